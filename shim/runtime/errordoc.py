"""Error documents (``error.pb``): classification of failures and where they are written."""

from __future__ import annotations

import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from shim import idl
from shim.errors import ShimError, TaskFailedError

RECOVERABLE = idl.ContainerError.Kind.Value("RECOVERABLE")
NON_RECOVERABLE = idl.ContainerError.Kind.Value("NON_RECOVERABLE")
ORIGIN = {"USER": idl.ErrorOrigin.Value("USER"), "SYSTEM": idl.ErrorOrigin.Value("SYSTEM")}


@dataclass(frozen=True)
class Classified:
    """How a failure is reported: ``code`` (``USER:...``), ``recoverable`` and ``origin``."""

    code: str
    recoverable: bool
    origin: str
    message: str


def format_message(exc: BaseException) -> str:
    """flytekit's layout: ``Trace:`` with the indented traceback, then ``Message:``."""
    value = f"{type(exc).__name__}: {exc}"
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"Trace:\n\n    {_indent(tb.rstrip())}\n\nMessage:\n\n    {_indent(value)}"


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def classify(exc: BaseException, *, phase: str) -> Classified:
    """Map an exception raised in ``phase`` to the WIRE.md section 4 table.

    shimkit's own errors carry their classification. Anything else raised while the executor
    runs is the user's logic failing: ``USER:<ExceptionType>``, non-recoverable. Anything else
    raised elsewhere is a bug or a platform fault: ``SYSTEM:<ExceptionType>``, recoverable.
    """
    if isinstance(exc, TaskFailedError):  # a nested task's failure, raised on: its own code
        return Classified(exc.code, exc.recoverable, exc.origin, format_message(exc))
    if isinstance(exc, ShimError):
        origin = exc.origin
        code = f"{origin}:{exc.code}"
        if (
            phase == "execute"
            and not type(exc).__module__.startswith("shim.")
            and "code" not in type(exc).__dict__
        ):
            # an executor's own error class without a code of its own: report it by its name
            code = f"{origin}:{type(exc).__name__}"
        return Classified(code, exc.recoverable, origin, format_message(exc))
    if isinstance(exc, MemoryError):
        return Classified("USER:MemoryError", False, "USER", format_message(exc))
    if phase == "execute":
        return Classified(f"USER:{type(exc).__name__}", False, "USER", format_message(exc))
    return Classified(f"SYSTEM:{type(exc).__name__}", True, "SYSTEM", format_message(exc))


def error_document(
    c: Classified, *, redact: Callable[[str], str] | None = None
) -> idl.ErrorDocument:
    """The ``ErrorDocument`` for ``c``; ``redact`` (e.g. :func:`redactor`) cleans the message."""
    doc = idl.ErrorDocument()
    err = doc.error
    err.code = c.code
    err.message = redact(c.message) if redact is not None else c.message
    err.kind = RECOVERABLE if c.recoverable else NON_RECOVERABLE
    err.origin = ORIGIN.get(c.origin, idl.ErrorOrigin.Value("UNKNOWN"))
    err.timestamp.FromNanoseconds(time.time_ns())
    err.worker = os.environ.get("_F_WN", "") or socket.gethostname()
    return doc


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "t", "1", "yes")


def error_file_name(environ: dict[str, str] | None = None) -> str:
    """``error.pb``, or ``error-<uuid4 hex>.pb`` under a distributed error strategy."""
    env = os.environ if environ is None else environ
    if env.get("_F_DES") or env.get("FLYTE_INTERNAL_DIST_ERROR_STRATEGY"):
        return f"error-{uuid.uuid4().hex}.pb"
    return "error.pb"


def fail_on_error(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return _true(env.get("FLYTE_FAIL_ON_ERROR"))


# --- secrets never leave in an error document ---------------------------------------------

REDACTED = "[redacted]"
_MIN_SECRET_LEN = 4  # shorter values ("1", "true") would blank out ordinary text
_MAX_SECRET_FILES = 256
_MAX_SECRET_BYTES = 1 << 16


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Every secret this process could have read (WIRE.md section 5): the values of the
    ``_FSEC_*`` environment variables and of the files of the secrets directory (two levels,
    ``<dir>/<group>/<key>``, bounded). Longest first, so that a secret containing another is
    replaced whole. Only called on the failure path."""
    env = os.environ if environ is None else environ
    prefix = (env.get("FLYTE_SECRETS_ENV_PREFIX") or "_FSEC_").upper()
    values = {v for k, v in env.items() if k.upper().startswith(prefix)}
    base = env.get("FLYTE_SECRETS_DEFAULT_DIR", "/etc/secrets")
    seen = 0
    try:
        entries = list(os.scandir(base))
    except OSError:
        entries = []
    stack = [(e, 1) for e in entries]
    while stack and seen < _MAX_SECRET_FILES:
        entry, depth = stack.pop()
        try:
            if entry.is_dir() and depth < 2:
                stack.extend((e, depth + 1) for e in os.scandir(entry.path))
            elif entry.is_file() and entry.stat().st_size <= _MAX_SECRET_BYTES:
                seen += 1
                with open(entry.path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                values.update({text, text.strip("\n"), text.strip()})
        except OSError:
            continue
    return sorted((v for v in values if len(v) >= _MIN_SECRET_LEN), key=len, reverse=True)


def redactor(environ: dict[str, str] | None = None) -> Callable[[str], str]:
    """A function replacing every secret value (see :func:`secret_values`) in a text."""
    values = secret_values(environ)

    def redact(text: str) -> str:
        for v in values:
            if v in text:
                text = text.replace(v, REDACTED)
        return text

    return redact
