"""The execute flow: template -> executor -> inputs -> execute -> outputs (or error document).

Order of effects on the output prefix, so that nothing is ever half-written:
1. stale ``outputs.pb`` / ``error.pb`` of an earlier attempt on the same prefix are removed;
2. outputs are validated and encoded, inline sizes checked, *then* offloaded data is uploaded;
3. ``outputs.pb`` is written last, in one atomic put. On failure ``error.pb`` is written instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shim import envconf, idl
from shim.errors import (
    ExecutorNotFoundError,
    IgnoreOutputs,
    InlineSizeError,
    InputError,
    OutputError,
    ShimError,
    StorageNotFoundError,
    SystemError_,
    TemplateError,
    TerminatedError,
    TypeMismatchError,
)
from shim.runtime import errordoc
from shim.runtime.args import ExecuteArgs
from shim.runtime.context import ExecutionContext, _reset, _set
from shim.runtime.phases import Event, Phase
from shim.runtime.resolver import get_resolver
from shim.runtime.template import TaskTemplateModel

#: environment variable naming the file descriptor a supervisor follows the phases on
SUPERVISOR_FD_ENV = "SHIM_SUPERVISOR_FD"


class Progress:
    """The phase the execution is in, with timings; ``on_change`` lets a supervisor follow it.

    ``on_change(name)`` is called with each new phase and with the terminal events
    (:class:`~shim.runtime.phases.Event`) prefixed by ``=`` (see :meth:`notify`).
    """

    def __init__(self, on_change: Any = None) -> None:
        self.phase = Phase.START
        self._on_change = on_change
        self._t0 = self._last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def enter(self, phase: Phase) -> None:
        now = time.perf_counter()
        self.timings[self.phase] = self.timings.get(self.phase, 0.0) + now - self._last
        self._last = now
        self.phase = phase
        if self._on_change is not None:
            self._on_change(phase)

    def notify(self, event: Event) -> None:
        """Tell the supervisor about a terminal event (the phase does not change)."""
        if self._on_change is not None:
            self._on_change("=" + event)

    def as_dict(self) -> dict[str, Any]:
        """The timings in seconds, by phase, and the total (``timings.json``)."""
        return {
            "timings": {str(k): round(v, 6) for k, v in self.timings.items()},
            "total": round(self._last - self._t0, 6),
        }

    def summary(self) -> str:
        parts = [f"{k}={v * 1000:.1f}ms" for k, v in self.timings.items()]
        return " ".join(parts) + f" total={(self._last - self._t0) * 1000:.1f}ms"


def supervised_progress() -> Progress | None:
    """A :class:`Progress` that reports to the supervisor's pipe, when there is one.

    The supervisor passes the write end of a pipe as ``SHIM_SUPERVISOR_FD``; each phase change
    is one line on it (a few bytes, six times per execution). The variable is removed from
    the environment so that processes started by the executor do not write to the pipe.
    """
    raw = os.environ.pop(SUPERVISOR_FD_ENV, "")
    if not raw:
        return None
    try:
        fd = int(raw)
        os.fstat(fd)
    except (ValueError, OSError):
        return None

    def report(name: str) -> None:
        try:
            os.write(fd, name.encode("utf-8", "replace") + b"\n")
        except OSError:  # the supervisor is gone; carry on
            pass

    return Progress(on_change=report)


def run(
    args: ExecuteArgs,
    *,
    storage: Any = None,
    progress: Progress | None = None,
    handle_sigterm: bool = False,
    setup_error: ShimError | None = None,
    quiet: bool = False,
    reraise_interrupt: bool = False,
) -> int:
    """Run one task execution; returns the process exit status (see WIRE.md section 4).

    Once the output prefix is known every step is inside the error path: whatever fails
    (a bad setting, ``setup_error`` found by the caller, no scratch directory, ...) ends in an
    error document. ``quiet`` keeps the failure off stderr (a local in-process run raises it).
    A ``KeyboardInterrupt`` is reported as ``SYSTEM:Terminated`` like SIGTERM; with
    ``reraise_interrupt`` (an in-process caller) it is raised again once the error document is
    written and the scratch directory removed, so Ctrl-C stops the caller too.
    """
    progress = progress or Progress()
    if not args.output_prefix:
        errordoc.print_line(
            "error: --output-prefix is required (absent or unrendered); no error document "
            "can be written without it"
        )
        return 2
    if storage is None:
        storage, config_error = errordoc.reporting_storage()
        setup_error = setup_error or config_error
    prefix = args.output_prefix
    guard = _SigtermGuard(progress) if handle_sigterm else None
    work: Path | None = None
    timings = False
    try:
        try:
            if guard is not None:
                guard.install()
            if setup_error is not None:
                raise setup_error
            timings = _check_settings()
            work = _scratch_dir()
            _clear_stale(storage, prefix)
            _execute(args, storage, progress, work)
            progress.enter(Phase.DONE)
            return 0
        except IgnoreOutputs:
            progress.enter(Phase.DONE)
            return 0
        except BaseException as exc:  # every failure becomes an error document
            try:
                status = _fail(exc, progress, storage, prefix, guard, quiet)
            except TerminatedError:  # SIGTERM in the instant before the guard took effect
                status = _fail(exc, progress, storage, prefix, guard, quiet)
            if reraise_interrupt and isinstance(exc, KeyboardInterrupt):
                raise  # Ctrl-C stops an in-process caller too, once the document is written
            return status
    finally:
        if guard is not None:
            guard.restore()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if timings:
            errordoc.print_line(f"timings {progress.summary()}")
            _write_timings(storage, prefix, progress)


#: written next to outputs.pb / error.pb when ``SHIM_TIMINGS`` is on (``shim inspect`` reads it)
TIMINGS_FILE = "timings.json"


def _write_timings(storage: Any, prefix: str, progress: Progress) -> None:
    """``{"timings": {phase: seconds}, "total": seconds}`` at ``<prefix>/timings.json``; a
    failure to write it is reported on stderr and never changes the execution's result."""
    import json

    from shim.storage import join

    doc = progress.as_dict()
    try:
        storage.put_bytes(join(prefix, TIMINGS_FILE), json.dumps(doc).encode())
    except Exception as e:  # diagnostics only: the outputs or error document are written
        errordoc.print_line(f"timings: cannot write {TIMINGS_FILE}: {type(e).__name__}: {e}")


def _check_settings() -> bool:
    """Read the entrypoint's own settings, so that a bad value is reported before any work;
    returns whether ``SHIM_TIMINGS`` is on."""
    errordoc.fail_on_error()
    return envconf.flag("SHIM_TIMINGS")


def _scratch_dir() -> Path:
    """The execution's own scratch directory (removed at the end)."""
    try:
        return Path(tempfile.mkdtemp(prefix="shim-exec-"))
    except OSError as e:
        try:
            where = tempfile.gettempdir()
        except OSError:
            where = "any temporary directory"
        from shim.storage.local import retry_can_fix

        err = SystemError_(
            f"cannot create a scratch directory in {where} ({type(e).__name__}: {e}); point "
            "TMPDIR at a writable directory with free space",
            code="ScratchUnavailable",
        )
        # a full disk may pass on another node; a missing or read-only directory will not
        err.recoverable = retry_can_fix(e) and not isinstance(e, FileNotFoundError)
        raise err from e


def _fail(
    exc: BaseException,
    progress: Progress,
    storage: Any,
    prefix: str,
    guard: _SigtermGuard | None,
    quiet: bool,
) -> int:
    """Report ``exc``: from here on a SIGTERM is noted, never raised, so the error document
    is not lost half-written."""
    if guard is not None:
        guard.defer()
    if isinstance(exc, KeyboardInterrupt):
        exc = TerminatedError(f"interrupted during phase '{progress.phase}'")
    if errordoc.outputs_stand(storage, prefix, progress.phase):
        progress.enter(Phase.DONE)
        return 0
    return _report(exc, progress, storage, prefix, quiet)


def _execute(args: ExecuteArgs, storage: Any, progress: Progress, work: Path) -> None:
    from shim.storage import join
    from shim.types import TransferContext

    outputs_url = join(args.output_prefix, "outputs.pb")
    progress.enter(Phase.LOAD_TEMPLATE)
    resolver = get_resolver(args.resolver)
    tt, executor_cls = resolver.load_task(args.resolver_args, storage)
    try:
        executor = executor_cls()
    except Exception as e:
        raise ExecutorNotFoundError(
            f"executor {executor_cls.__module__}.{executor_cls.__qualname__} cannot be created "
            f"({type(e).__name__}: {e}); executors are constructed without arguments",
            code="ExecutorInitFailed",
        ) from e
    _decode_task_config(tt, executor)

    raw = args.raw_output_data_prefix or join(args.output_prefix, "raw")
    transfer = TransferContext(
        storage=storage,
        raw_output_prefix=raw,
        scratch_dir=work / "scratch",
        defer_uploads=True,
        owned_dir=work,
    )
    transfer.scratch_dir.mkdir(parents=True, exist_ok=True)

    progress.enter(Phase.READ_INPUTS)
    # an executor that knows its Python types (function tasks) decodes and encodes with them
    typed = getattr(executor, "python_types", None)
    input_types, output_types = typed(tt) if typed is not None else (None, None)
    inputs = _read_inputs(args.inputs, tt, storage, transfer, input_types)

    progress.enter(Phase.EXECUTE)
    ctx = ExecutionContext(
        working_dir=work,
        raw_output_prefix=raw,
        output_prefix=args.output_prefix,
        storage=storage,
        transfer=transfer,
        checkpoint_path=args.checkpoint_path,
        prev_checkpoint=args.prev_checkpoint,
    )
    token = _set(ctx)
    try:
        result = executor.execute_from_model(tt, **inputs)
    finally:
        _reset(token)

    progress.enter(Phase.WRITE_OUTPUTS)
    literals = encode_outputs(result, tt, transfer, output_types)
    size = literals.ByteSize()
    if size > tt.max_inline_io_bytes:
        raise InlineSizeError(
            f"outputs are {size} bytes inline, above the task's max_inline_io_bytes "
            f"({tt.max_inline_io_bytes}); return large data as a File, Directory or DataFrame "
            "so it is offloaded, or raise max_inline_io_bytes",
        )
    transfer.flush()
    storage.put_bytes(outputs_url, idl.serialize(literals))


def _decode_task_config(tt: TaskTemplateModel, executor: Any) -> None:
    config_type = getattr(executor, "config_type", None)
    if config_type is None:
        return
    from shim.types.structs import from_jsonable

    try:
        tt.task_config = from_jsonable(config_type, tt.custom)
    except (TypeError, ValueError, KeyError) as e:
        raise TemplateError(
            f"the template's custom does not fit {config_type.__qualname__}: {e}",
            code="BadCustom",
        ) from None


def _read_inputs(
    url: str | None,
    tt: TaskTemplateModel,
    storage: Any,
    transfer: Any,
    types: Mapping[str, Any] | None = None,
) -> dict:
    from google.protobuf.message import DecodeError

    expected = tt.interface.inputs
    lm = idl.LiteralMap()
    if url is not None:
        try:
            data = storage.get_bytes(url)
        except StorageNotFoundError:
            raise InputError(f"inputs not found at {url}", code="InputsNotFound") from None
        if len(data) > tt.max_inline_io_bytes:
            raise InlineSizeError(
                f"inputs at {url} are {len(data)} bytes, above the task's max_inline_io_bytes "
                f"({tt.max_inline_io_bytes}); pass large data as a File, Directory or DataFrame"
            )
        try:
            lm.ParseFromString(data)
        except (DecodeError, RuntimeError, ValueError) as e:
            raise InputError(
                f"inputs at {url} are not a flyteidl LiteralMap ({len(data)} bytes): {e}",
                code="InputsCorrupt",
            ) from None
    types = _python_types(expected, "input", types)
    from shim.types import InterfaceMismatchError, literal_map_to_python

    try:
        return literal_map_to_python(lm, types, transfer, what="input")
    except InterfaceMismatchError as e:
        if url is None:
            raise InputError(
                f"no --inputs given but the task declares inputs: {e}", code="InputsNotFound"
            ) from None
        raise InputError(f"inputs do not match the task's interface: {e}") from None
    except TypeMismatchError as e:
        raise InputError(f"input {e}") from None


def _python_types(
    variables: Mapping[str, Any], what: str, known: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Python types the runtime decodes and encodes the template's variables with:
    ``known`` ones (an executor's own, e.g. a function task's annotations), else guessed."""
    from shim.types import python_type_of

    types = {}
    for name, lt in variables.items():
        try:
            types[name] = known[name] if known and name in known else python_type_of(lt)
        except ShimError:
            raise
        except Exception as e:  # a type the engine cannot represent: the template's, for good
            raise TemplateError(
                f"{what} '{name}' has a type shimkit cannot represent ({type(e).__name__}: {e})",
                code="UnsupportedType",
            ) from e
    return types


def bind_outputs(result: Any, names: list[str]) -> dict[str, Any]:
    """Pair an executor's result with output names, by name, never by position."""
    if not names:
        if result is None or (isinstance(result, Mapping) and not result):
            return {}
        raise OutputError(
            f"the task declares no outputs but the executor returned {type(result).__name__}"
        )
    if isinstance(result, Mapping) and set(result) == set(names):
        return dict(result)
    fields = getattr(type(result), "_fields", None)
    if isinstance(result, tuple) and fields is not None:
        bound = dict(zip(fields, result, strict=True))
        if set(bound) != set(names):
            raise OutputError(
                f"executor returned a {type(result).__name__} with fields {sorted(bound)}, "
                f"but the task's outputs are {sorted(names)}"
            )
        return bound
    if len(names) == 1:
        return {names[0]: result}
    if isinstance(result, Mapping):
        raise OutputError(
            f"executor returned outputs {sorted(result)}, but the task's outputs are "
            f"{sorted(names)}"
        )
    raise OutputError(
        f"executor returned a {type(result).__name__} for the {len(names)} outputs "
        f"{sorted(names)}: return a mapping {{name: value}} or a NamedTuple, so that each value "
        "is bound to its output by name"
    )


def encode_outputs(
    result: Any, tt: TaskTemplateModel, transfer: Any, types: Mapping[str, Any] | None = None
) -> Any:
    """The executor's result as the outputs' LiteralMap. A value that cannot be encoded is
    an :class:`OutputError` naming the output (whatever the converter raised: a retry would
    fail the same way); storage and OS errors keep their own classification. ``types``: the
    Python types an executor knows (function tasks); else guessed from the template."""
    from shim.types import python_to_literal_map

    outputs = tt.interface.outputs
    bound = bind_outputs(result, list(outputs))
    try:
        return python_to_literal_map(
            bound, _python_types(outputs, "output", types), transfer, what="output"
        )
    except TypeMismatchError as e:
        raise OutputError(f"output {e}") from None


def _clear_stale(storage: Any, prefix: str) -> None:
    """Remove this prefix's outputs.pb / error.pb of an earlier attempt (``error-<uuid>.pb``
    of a distributed run belongs to other workers and stays)."""
    from shim.storage import join

    for name in ("outputs.pb", "error.pb"):
        storage.delete_object(join(prefix, name))


def _report(exc: BaseException, progress: Progress, storage: Any, prefix: str, quiet: bool) -> int:
    phase = progress.phase
    from shim.runtime.redaction import redactor

    redact = redactor()
    c = errordoc.classify(exc, phase=phase, redact=redact)
    kind = "recoverable" if c.recoverable else "non-recoverable"
    line = f"{c.code} ({kind}) in phase '{phase}'"
    if not quiet:
        if isinstance(exc, ShimError):
            errordoc.print_line(redact(f"{line}: {exc}"))
        else:  # not one of shimkit's own errors: its traceback says where it came from
            import traceback

            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            print(redact(tb.rstrip()), file=sys.stderr, flush=True)
            errordoc.print_line(line)
    written = errordoc.write(c, prefix, storage, redact=redact, summary=redact(f"{exc}"))
    progress.notify(Event.ERROR_WRITTEN if written else Event.ERROR_UNWRITTEN)
    return errordoc.exit_status(written)


class _SigtermGuard:
    """SIGTERM raises :class:`TerminatedError` in the main thread, once. Once the failure is
    being reported (:meth:`defer`), and after the outputs are written, a SIGTERM is only
    noted: it must not interrupt the writing of the error document, nor undo the task."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.fired = False
        self.deferred = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._installed = True
        except ValueError:  # not the main thread
            pass

    def defer(self) -> None:
        self.deferred = True

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        if self.fired or self.deferred or self.progress.phase == Phase.DONE:
            self.fired = True
            return
        self.fired = True
        raise TerminatedError(f"received SIGTERM during phase '{self.progress.phase}'")


def execute_unsupervised(argv: list[str]) -> int:
    """Parse ``argv`` (already checked by the caller) and run the execution in this process,
    reporting phases to a supervisor when there is one: the supervisor's forked worker."""
    from shim.runtime.args import parse_execute_args

    return run(parse_execute_args(argv), handle_sigterm=True, progress=supervised_progress())
