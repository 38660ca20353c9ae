"""The one exception hierarchy of shimkit.

Every failure a user can see is a :class:`ShimError`. Runtime errors carry the classification
that goes into ``error.pb`` (WIRE.md section 4): an ``origin`` (``"USER"`` or ``"SYSTEM"``),
whether the failure is ``recoverable`` (retrying may help) and a short ``code`` suffix.
Messages say what was wrong, where, and what to do.
"""

from __future__ import annotations


class ShimError(Exception):
    """Base of every shimkit error."""

    origin: str = "USER"
    recoverable: bool = False
    code: str = "Error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


# --- user mistakes: deterministic, retrying does not help -------------------------------------


class UserError(ShimError):
    """A mistake in the task, its template or its inputs. Not retried."""

    origin = "USER"
    recoverable = False
    code = "UserError"


class TemplateError(UserError):
    """The task template is missing, unreadable, or not something this executor can run."""

    code = "TemplateError"


class ExecutorNotFoundError(UserError):
    """The executor class named in the container args cannot be imported."""

    code = "ExecutorNotFound"


class InputError(UserError):
    """Inputs are missing, unexpected, unreadable, or do not match the interface."""

    code = "InputMismatch"


class TypeMismatchError(ShimError, TypeError):
    """A value does not fit its declared type.

    ``variable`` names the input or output, ``expected`` and ``actual`` describe the types.
    Whether it is a user or a system error depends on where it happens: the runtime wraps it
    into :class:`InputError` or :class:`OutputError`.
    """

    code = "TypeMismatch"

    def __init__(self, variable: str, expected: str, actual: str, detail: str = "") -> None:
        self.variable = variable
        self.expected = expected
        self.actual = actual
        where = f"'{variable}'" if variable else "value"
        msg = f"{where}: expected {expected}, got {actual}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class InlineSizeError(UserError):
    """Inline inputs or outputs are larger than the task's ``max_inline_io_bytes``."""

    code = "InlineIOTooLarge"


class RecoverableError(UserError):
    """Raise (or subclass) from an executor for a failure that a retry may fix."""

    recoverable = True
    code = "Recoverable"


# --- platform failures ---------------------------------------------------------------------------


class SystemError_(ShimError):
    """A failure of the platform, not of the task's logic."""

    origin = "SYSTEM"
    recoverable = True
    code = "SystemError"


class StorageError(SystemError_):
    """Object storage failed after retries (unreachable, throttled, reset)."""

    code = "StorageError"


class StorageNotFoundError(ShimError, FileNotFoundError):
    """An object that should exist does not. Callers decide whose fault that is."""

    code = "NotFound"


class OutputError(SystemError_):
    """The executor's result does not match the task's output interface."""

    recoverable = False
    code = "OutputMismatch"


class TerminatedError(SystemError_):
    """The process was asked to stop (SIGTERM) or its worker died."""

    code = "Terminated"


# --- control flow and local runs -------------------------------------------------------------


class IgnoreOutputs(Exception):
    """Raised by an executor to end without writing outputs.pb or error.pb."""


class TaskFailedError(ShimError):
    """A task run ended with an error document; carries its code, kind, origin and message.

    ``str(e)`` is ``CODE (KIND, ORIGIN): <reason>``, where the reason is the ``Message:`` part
    of the document's message (its first line, then the rest): ``USER:QueryError
    (NON_RECOVERABLE, USER): near "SELEC": syntax error`` and the query on the next line. The
    whole message, traceback included, is ``e.error_message``; the reason alone ``e.reason``.
    A local run also sets ``run_name`` and ``run_dir`` (its directory in the runs store).
    """

    run_name: str | None = None
    run_dir: str | None = None

    def __init__(self, code: str, kind: str, origin: str, message: str) -> None:
        self.code = code
        self.kind = kind
        self.origin = origin
        self.recoverable = kind == "RECOVERABLE"
        self.error_message = message
        self.reason = reason_of(message, code)
        super().__init__(f"{code} ({kind}, {origin}): {self.reason}")

    def __reduce__(self):  # picklable (asyncio, concurrent.futures, multiprocessing)
        return (type(self), (self.code, self.kind, self.origin, self.error_message))


_MESSAGE_MARK = "Message:\n"


def reason_of(message: str, code: str = "") -> str:
    """The ``Message:`` part of an error document's message (flytekit's layout: ``Trace:``
    then ``Message:``), dedented; the whole message when it has no such part. A leading
    ``<ExceptionType>: `` that only repeats the code's name is left out."""
    text = message.strip()
    # the marker is the one unindented "Message:" line (both parts are indented)
    if text.startswith(_MESSAGE_MARK):
        text = text[len(_MESSAGE_MARK) :]
    elif (i := text.find("\n" + _MESSAGE_MARK)) >= 0:
        text = text[i + 1 + len(_MESSAGE_MARK) :]
    lines = [ln[4:] if ln.startswith("    ") else ln for ln in text.strip("\n").splitlines()]
    text = "\n".join(lines).strip()
    name = code.split(":", 1)[-1]
    for prefix in (f"{name}: ", f"{name}Error: "):
        if name and text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text or message.strip()


# --- function tasks, plugins and traces (EXTENSION.md sections 1-4) ---------------------------


class TaskDefinitionError(UserError, TypeError, ValueError):
    """A task cannot be defined as written: an unannotated parameter, a type the type engine
    cannot carry, a function that cannot be imported by module path, a bad plugin class.

    Raised when the task is defined, never at run time. It is a ``TypeError`` and a
    ``ValueError``, so code written against flyte-sdk's errors keeps catching it."""

    code = "TaskDefinition"


class TraceDoesNotAllowNestedTasksError(UserError):
    """A task was called inside a ``@trace`` function of a running task."""

    code = "TraceDoesNotAllowNestedTasksError"


class SyncTaskCallInAsyncContextError(UserError):
    """A sync task was called in a blocking way from async code of a running task; use
    ``await task.aio(...)``."""

    code = "SyncTaskCallInAsyncContextError"
