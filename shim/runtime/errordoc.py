"""Error documents (``error.pb``): classification of failures and where they are written."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shim import envconf, idl
from shim.errors import ShimError, TaskFailedError
from shim.runtime.phases import Phase

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


def format_message(exc: BaseException, redact: Callable[[str], str] | None = None) -> str:
    """flytekit's layout: ``Trace:`` with the indented traceback, then ``Message:``.

    ``redact`` (:func:`shim.runtime.redaction.redactor`) cleans the traceback and the message
    *before* they are indented, so that a multi-line secret is found as it was raised."""
    clean = redact or _same
    value = clean(f"{type(exc).__name__}: {_text(exc)}")
    tb = clean("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
    return layout(tb, value)


def layout(trace: str, message: str) -> str:
    """An error document's message in flytekit's layout: ``Trace:`` and the indented
    ``trace`` (left out when empty), then ``Message:`` and the indented ``message`` (what
    :func:`shim.errors.reason_of` gives back to a local caller)."""
    body = f"Message:\n\n    {_indent(message)}"
    return f"Trace:\n\n    {_indent(trace)}\n\n{body}" if trace else body


def _same(text: str) -> str:
    return text


def _text(exc: BaseException) -> str:
    if isinstance(exc, TaskFailedError):  # a nested task's failure raised on: its reason
        return exc.reason
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not hide the failure
        return f"<{type(exc).__name__}: str() failed>"


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def classify(
    exc: BaseException, *, phase: str, redact: Callable[[str], str] | None = None
) -> Classified:
    """Map an exception raised in ``phase`` to the WIRE.md section 4 table; the message is
    formatted with ``redact`` applied first (see :func:`format_message`).

    shimkit's own errors carry their classification. Anything else raised while the executor
    runs is the user's logic failing: ``USER:<ExceptionType>``, non-recoverable. Anything else
    raised elsewhere is a fault of the platform or of shimkit: ``SYSTEM:<ExceptionType>``,
    recoverable, except local OS errors that a retry cannot fix (a path too long, a read-only
    or invalid location: :func:`shim.storage.local.retry_can_fix`).
    """
    message = format_message(exc, redact)
    user_code = Phase.parse(phase) is Phase.EXECUTE
    if isinstance(exc, TaskFailedError):  # a nested task's failure, raised on: its own code
        return Classified(exc.code, exc.recoverable, exc.origin, message)
    if isinstance(exc, ShimError):
        origin = exc.origin
        code = f"{origin}:{exc.code}"
        if (
            user_code
            and not type(exc).__module__.startswith("shim.")
            and "code" not in type(exc).__dict__
        ):
            # an executor's own error class without a code of its own: report it by its name
            code = f"{origin}:{type(exc).__name__}"
        return Classified(code, exc.recoverable, origin, message)
    if isinstance(exc, MemoryError):
        return Classified("USER:MemoryError", False, "USER", message)
    if user_code:
        return Classified(f"USER:{type(exc).__name__}", False, "USER", message)
    recoverable = True
    if isinstance(exc, OSError):
        from shim.storage.local import retry_can_fix

        recoverable = retry_can_fix(exc)
    return Classified(f"SYSTEM:{type(exc).__name__}", recoverable, "SYSTEM", message)


def error_document(
    c: Classified, *, redact: Callable[[str], str] | None = None
) -> idl.ErrorDocument:
    """The ``ErrorDocument`` for ``c``; ``redact`` cleans the message once more (a message
    built with :func:`classify` is clean already)."""
    doc = idl.ErrorDocument()
    err = doc.error
    err.code = c.code
    err.message = redact(c.message) if redact is not None else c.message
    err.kind = RECOVERABLE if c.recoverable else NON_RECOVERABLE
    err.origin = ORIGIN.get(c.origin, idl.ErrorOrigin.Value("UNKNOWN"))
    err.timestamp.FromNanoseconds(time.time_ns())
    import socket  # the error path only: socket and uuid are 5 ms of every start-up

    err.worker = envconf.text("_F_WN") or socket.gethostname()
    return doc


def error_file_name(environ: dict[str, str] | None = None) -> str:
    """``error.pb``, or ``error-<uuid4 hex>.pb`` under a distributed error strategy."""
    if envconf.text("_F_DES", environ=environ) or envconf.text(
        "FLYTE_INTERNAL_DIST_ERROR_STRATEGY", environ=environ
    ):
        import uuid

        return f"error-{uuid.uuid4().hex}.pb"
    return "error.pb"


def fail_on_error(environ: dict[str, str] | None = None) -> bool:
    """``FLYTE_FAIL_ON_ERROR``: exit non-zero after writing an error document. A value that is
    not a boolean raises :class:`~shim.envconf.InvalidConfigError` (the entrypoint checks it
    before it starts, so that it is reported)."""
    return envconf.flag("FLYTE_FAIL_ON_ERROR", environ=environ)


# --- writing the document: the one place, for the entrypoint and the supervisor ------------


def reporting_storage() -> tuple[Any, ShimError | None]:
    """The storage to report with: the process's default one, or, when its ``SHIM_STORAGE_*``
    settings are invalid, one with default settings and the configuration error to report."""
    from shim.storage import Storage, default_storage

    try:
        return default_storage(), None
    except ShimError as e:
        return Storage(), e


def exit_status(written: bool) -> int:
    """The process's exit status once a failure was handled: 0 after writing the document (1
    with ``FLYTE_FAIL_ON_ERROR``; an unreadable value counts as set), 1 when not written."""
    if not written:
        return 1
    try:
        return 1 if fail_on_error() else 0
    except ShimError:
        return 1


def write(
    c: Classified,
    output_prefix: str,
    storage: Any,
    *,
    redact: Callable[[str], str],
    summary: str,
) -> bool:
    """Write ``c``'s error document under ``output_prefix``. When it cannot be written, print
    the last resort: one line on stderr naming the location, why, and the failure
    (``summary``). Returns whether the document was written."""
    from shim.storage import join

    url = join(output_prefix, error_file_name())
    try:
        storage.put_bytes(url, idl.serialize(error_document(c, redact=redact)))
        return True
    except BaseException as e:
        line = (
            f"could not write the error document to {url} ({type(e).__name__}: {_text(e)}); "
            f"the failure was {c.code}: {summary}"
        )
        print_line(redact(" ".join(line.split())))
        return False


def outputs_stand(storage: Any, output_prefix: str, phase: str) -> bool:
    """The rule for a failure after the last step: outputs.pb is written last and atomically,
    so a failure (a signal, a death, a lost reply) in phase ``write-outputs`` with outputs.pb
    present came after the task completed, and does not undo it. (A stale outputs.pb of an
    earlier attempt was removed in phase ``start``.)"""
    if Phase.parse(phase) is not Phase.WRITE_OUTPUTS:
        return False
    from shim.storage import join

    try:
        return bool(storage.exists(join(output_prefix, "outputs.pb")))
    except BaseException:  # cannot tell: report the failure
        return False


def print_line(line: str) -> None:
    """One line of ``shim execute`` on stderr."""
    print(f"shim execute: {line}", file=sys.stderr, flush=True)
