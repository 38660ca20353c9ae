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

from shim import idl
from shim.errors import (
    ExecutorNotFoundError,
    IgnoreOutputs,
    InlineSizeError,
    InputError,
    OutputError,
    ShimError,
    StorageNotFoundError,
    TemplateError,
    TerminatedError,
    TypeMismatchError,
)
from shim.runtime import errordoc
from shim.runtime.args import ExecuteArgs
from shim.runtime.context import ExecutionContext, _reset, _set
from shim.runtime.resolver import get_resolver
from shim.runtime.template import TaskTemplateModel

#: environment variable naming the file descriptor a supervisor follows the phases on
SUPERVISOR_FD_ENV = "SHIM_SUPERVISOR_FD"


class Progress:
    """The phase the execution is in, with timings; ``on_change`` lets a supervisor follow it.

    ``on_change(name)`` is called with each new phase and with the terminal events
    ``"=error-written"`` / ``"=error-unwritten"`` (see :meth:`notify`).
    """

    def __init__(self, on_change: Any = None) -> None:
        self.phase = "start"
        self._on_change = on_change
        self._t0 = self._last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def enter(self, phase: str) -> None:
        now = time.perf_counter()
        self.timings[self.phase] = self.timings.get(self.phase, 0.0) + now - self._last
        self._last = now
        self.phase = phase
        if self._on_change is not None:
            self._on_change(phase)

    def notify(self, event: str) -> None:
        """Tell the supervisor about a terminal event (the phase does not change)."""
        if self._on_change is not None:
            self._on_change("=" + event)

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
) -> int:
    """Run one task execution; returns the process exit status (see WIRE.md section 4)."""
    config_error: ShimError | None = None
    if storage is None:
        from shim.storage import Storage, default_storage

        try:
            storage = default_storage()
        except ShimError as e:  # e.g. SHIM_STORAGE_RETRIES=abc: report it with default settings
            config_error, storage = e, Storage()
    progress = progress or Progress()
    if not args.output_prefix:
        _stderr(
            "--output-prefix is required (absent or unrendered); no error document "
            "can be written without it"
        )
        return 2
    from shim.storage import join

    prefix = args.output_prefix
    outputs_url = join(prefix, "outputs.pb")
    work = Path(tempfile.mkdtemp(prefix="shim-exec-"))
    previous = _install_sigterm(progress) if handle_sigterm else None
    try:
        try:
            if config_error is not None:
                raise config_error
            _clear_stale(storage, prefix)
            _execute(args, storage, progress, work, outputs_url)
            progress.enter("done")
            return 0
        except IgnoreOutputs:
            progress.enter("done")
            return 0
        except BaseException as exc:  # every failure becomes an error document
            if isinstance(exc, KeyboardInterrupt):
                exc = TerminatedError(f"interrupted during phase '{progress.phase}'")
            if _completed(exc, progress, storage, outputs_url):
                return 0
            return _report(exc, progress, storage, prefix)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(work, ignore_errors=True)
        if os.environ.get("SHIM_TIMINGS"):
            _stderr(f"timings {progress.summary()}")


def _execute(
    args: ExecuteArgs, storage: Any, progress: Progress, work: Path, outputs_url: str
) -> None:
    from shim.storage import join
    from shim.types import TransferContext

    progress.enter("load-template")
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

    progress.enter("read-inputs")
    inputs = _read_inputs(args.inputs, tt, storage, transfer)

    progress.enter("execute")
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

    progress.enter("write-outputs")
    literals = encode_outputs(result, tt, transfer)
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


def _read_inputs(url: str | None, tt: TaskTemplateModel, storage: Any, transfer: Any) -> dict:
    from google.protobuf.message import DecodeError

    from shim.types import python_type_of, to_python

    expected = tt.interface.inputs
    lm = idl.LiteralMap()
    if url is None:
        if expected:
            raise InputError(
                f"no --inputs given but the task declares inputs {sorted(expected)}",
                code="InputsNotFound",
            )
    else:
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
    given = set(lm.literals)
    missing = sorted(set(expected) - given)
    extra = sorted(given - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise InputError(
            f"inputs do not match the task's interface: {'; '.join(parts)} "
            f"(the task declares {sorted(expected)})"
        )
    values = {}
    for name, lt in expected.items():
        try:
            values[name] = to_python(lm.literals[name], python_type_of(lt), transfer, name=name)
        except TypeMismatchError as e:
            raise InputError(f"input {e}") from None
        except (ValueError, OverflowError) as e:  # e.g. a Timestamp out of datetime's range
            raise InputError(f"input '{name}' cannot be decoded: {type(e).__name__}: {e}") from None
    return values


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


def encode_outputs(result: Any, tt: TaskTemplateModel, transfer: Any) -> Any:
    from shim.types import python_type_of, to_literal

    outputs = tt.interface.outputs
    bound = bind_outputs(result, list(outputs))
    lm = idl.LiteralMap()
    for name, lt in outputs.items():
        try:
            lit = to_literal(bound[name], python_type_of(lt), transfer, name=name)
        except TypeMismatchError as e:
            raise OutputError(f"output {e}") from None
        lm.literals[name].CopyFrom(lit)
    return lm


def _completed(exc: BaseException, progress: Progress, storage: Any, outputs_url: str) -> bool:
    """A termination that arrived after outputs.pb was written does not undo the task."""
    if not isinstance(exc, TerminatedError) or progress.phase != "write-outputs":
        return False
    try:
        done = storage.exists(outputs_url)
    except BaseException:  # cannot tell: report the termination
        return False
    if done:
        progress.enter("done")
    return done


def _clear_stale(storage: Any, prefix: str) -> None:
    """Remove this prefix's outputs.pb / error.pb of an earlier attempt (``error-<uuid>.pb``
    of a distributed run belongs to other workers and stays)."""
    from shim.storage import join

    for name in ("outputs.pb", "error.pb"):
        storage.delete_object(join(prefix, name))


def _report(exc: BaseException, progress: Progress, storage: Any, prefix: str) -> int:
    from shim.storage import join

    phase = progress.phase
    c = errordoc.classify(exc, phase=phase)
    url = join(prefix, errordoc.error_file_name())
    kind = "recoverable" if c.recoverable else "non-recoverable"
    redact = errordoc.redactor()
    if isinstance(exc, ShimError):
        _stderr(redact(f"{c.code} ({kind}) in phase '{phase}': {exc}"))
    else:
        import traceback

        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        print(redact(tb.rstrip()), file=sys.stderr, flush=True)
        _stderr(f"{c.code} ({kind}) in phase '{phase}'")
    try:
        storage.put_bytes(url, idl.serialize(errordoc.error_document(c, redact=redact)))
    except BaseException as write_exc:  # the last resort is a line on stderr
        line = (
            f"could not write the error document to {url} "
            f"({type(write_exc).__name__}: {write_exc}); the failure was {c.code}: {exc}"
        )
        _stderr(redact(" ".join(line.split())))
        progress.notify("error-unwritten")
        return 1
    progress.notify("error-written")
    return 1 if errordoc.fail_on_error() else 0


def _install_sigterm(progress: Progress) -> Any:
    """SIGTERM raises :class:`TerminatedError` in the main thread, once: a second SIGTERM
    must not interrupt the writing of the error document, and a SIGTERM after the outputs
    are written changes nothing."""
    fired = False

    def on_sigterm(signum: int, frame: Any) -> None:
        nonlocal fired
        if fired or progress.phase == "done":
            return
        fired = True
        raise TerminatedError(f"received SIGTERM during phase '{progress.phase}'")

    try:
        return signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread
        return None


def _stderr(line: str) -> None:
    print(f"shim execute: {line}", file=sys.stderr, flush=True)


def execute_unsupervised(argv: list[str]) -> int:
    """Parse ``argv`` (already checked by the caller) and run the execution in this process,
    reporting phases to a supervisor when there is one: the supervisor's forked worker."""
    from shim.runtime.args import parse_execute_args

    return run(parse_execute_args(argv), handle_sigterm=True, progress=supervised_progress())
