"""Local runs: the same serialized template and entrypoint a cluster uses, on this machine."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from shim import idl
from shim.errors import ShimError, TaskFailedError, UserError
from shim.local.outputs import make_outputs
from shim.local.runs import FAILED, INTERRUPTED, SUCCEEDED, LocalRun, RunStore, keep_runs
from shim.local.staging import Stage, render_args
from shim.task.serialize import to_bytes
from shim.task.template import SerializationContext, TaskTemplate

RUNNERS = ("inprocess", "subprocess", "container")
DEFAULT_TIMEOUT = 3600.0
#: seconds a stopped subprocess or container gets to write its error document and exit
STOP_GRACE = 10.0
#: in-process runs set the task's env_vars in os.environ, which is the whole process's
_INPROCESS = threading.Lock()


class LocalRunError(ShimError):
    """A local run ended without an outputs or error document."""

    origin = "SYSTEM"
    code = "LocalRunFailed"


def resolve_runner(runner: str | None) -> str:
    """``runner``, else ``SHIM_RUNNER``, else ``"inprocess"``; ValueError for an unknown one."""
    runner = runner or os.environ.get("SHIM_RUNNER") or "inprocess"
    if runner not in RUNNERS:
        raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, got {runner!r}")
    return runner


def run_task(
    task: TaskTemplate,
    inputs: dict[str, Any],
    *,
    runner: str | None = None,
    store: str | None = None,
    timeout: float | None = None,
    name: str | None = None,
) -> Any:
    """Run ``task`` with ``inputs`` (bound to input names) and return its decoded outputs.

    One output -> its value; several -> :class:`~shim.local.outputs.Outputs` in declaration
    order; none -> ``None``. The run gets a directory and a record in the runs store under
    ``store`` (:mod:`shim.local.runs`), named ``name`` or a generated name. A failed run raises
    :class:`~shim.errors.TaskFailedError` carrying the error document's code, kind, origin and
    message, and the run's ``run_name`` and ``run_dir``. Ctrl-C raises ``KeyboardInterrupt``
    once the run is stopped and cleaned up.
    """
    from shim.storage import default_storage

    runner = resolve_runner(runner)
    timeout = _default_timeout() if timeout is None else timeout
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    keep = keep_runs()
    storage = default_storage()
    runs = RunStore(store, storage=storage)
    run = runs.start(task=task.name, runner=runner, name=name)
    with contextlib.suppress(OSError):  # housekeeping never fails a run
        runs.prune(keep)
    status, error = FAILED, None
    try:
        result = _run(task, inputs, run.stage, storage, runner, timeout)
        status = SUCCEEDED
        return result
    except TaskFailedError as e:
        error = e.code
        e.run_name, e.run_dir = run.name, run.dir
        raise
    except KeyboardInterrupt:
        status = INTERRUPTED
        raise
    except BaseException as e:
        error = type(e).__name__
        raise
    finally:
        _finish(run, status, error)


def _finish(run: LocalRun, status: str, error: str | None) -> None:
    try:
        run.finish(status, error)
    except Exception as e:  # the run's result matters more than its record
        print(
            f"shim: could not record the end of run {run.name} in {run.dir}: {e}",
            file=sys.stderr,
        )


def _run(
    task: TaskTemplate,
    inputs: dict[str, Any],
    stage: Stage,
    storage: Any,
    runner: str,
    timeout: float,
) -> Any:
    from shim.types import TransferContext, python_to_literal_map

    sctx = SerializationContext()
    storage.put_bytes(stage.template, to_bytes(task, sctx))

    with tempfile.TemporaryDirectory(prefix="shim-local-") as scratch:  # uploaded right away
        ctx = TransferContext(
            storage=storage, raw_output_prefix=stage.input_data, scratch_dir=Path(scratch)
        )
        literals = python_to_literal_map(inputs, task.interface.inputs, ctx, what="input")
    storage.put_bytes(stage.inputs, idl.serialize(literals))

    args = render_args(task.container_args(sctx), stage.values())
    exec_args = _execute_flags(args)
    env = dict(task.env_vars or {})
    if os.environ.get("SHIM_TIMINGS"):
        env.setdefault("SHIM_TIMINGS", os.environ["SHIM_TIMINGS"])
    detail = ""
    if runner == "inprocess":
        from shim.runtime.args import parse_execute_args
        from shim.runtime.entrypoint import run

        with _INPROCESS, _environ(env):
            # Ctrl-C: the entrypoint records the interruption, cleans up, and re-raises
            run(parse_execute_args(exec_args), storage=storage, reraise_interrupt=True)
    elif runner == "subprocess":
        detail = _run_subprocess(exec_args, env, timeout)
    else:
        from shim.local.container import run_task_in_container

        res = run_task_in_container(
            task.image,
            args,
            stage_dir=stage.base,
            env=env,
            timeout=timeout,
            read_only_paths=task.local_paths(sctx),
            what=f"task {task.name!r}",
        )
        _forward_timings(res.logs)
        detail = (
            f"container exit status {res.exit_code}"
            + (" (timed out)" if res.timed_out else "")
            + f"; last output:\n{_tail(res.logs)}"
        )
    return collect_outputs(task, stage, storage, detail=detail)


def _default_timeout() -> float:
    """``SHIM_LOCAL_TIMEOUT`` seconds, else one hour."""
    raw = os.environ.get("SHIM_LOCAL_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise UserError(
            f"SHIM_LOCAL_TIMEOUT={raw!r} is not a positive number of seconds",
            code="InvalidConfig",
        )
    return value


def _execute_flags(args: list[str]) -> list[str]:
    """The flags after the command (``pyflyte-execute`` / ``shim execute``)."""
    if args[:2] == ["shim", "execute"]:
        return args[2:]
    return args[1:]


def _run_subprocess(exec_args: list[str], env: dict[str, str], timeout: float) -> str:
    full_env = dict(os.environ)
    full_env.update(env)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    full_env["PYTHONPATH"] = os.pathsep.join(paths)
    cmd = [sys.executable, "-m", "shim", "execute", *exec_args]
    # its own session: a Ctrl-C in the terminal reaches this process only, which then stops
    # the child with SIGTERM (the platform's stop signal: the child writes its error document)
    proc = subprocess.Popen(
        cmd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_process(proc)
        raise LocalRunError(f"shim execute did not finish within {timeout:.0f}s") from None
    except BaseException:  # KeyboardInterrupt: stop the child before it propagates
        _stop_process(proc)
        raise
    _forward_timings(stderr)
    return f"exit status {proc.returncode}; stderr:\n{_tail(stderr)}"


def _stop_process(proc: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """SIGTERM, ``grace`` seconds to write the error document and exit, then SIGKILL.
    A second Ctrl-C while waiting kills at once."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    try:
        proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def _forward_timings(text: str) -> None:
    """With ``SHIM_TIMINGS`` set, show the entrypoint's phase timings of a child run."""
    if os.environ.get("SHIM_TIMINGS"):
        for line in (text or "").splitlines():
            if line.startswith("shim execute: timings"):
                print(line, file=sys.stderr)


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


def collect_outputs(task: TaskTemplate, stage: Stage, storage: Any, *, detail: str = "") -> Any:
    """Decode the run's ``outputs.pb``, or raise from its error document."""
    from shim.errors import StorageNotFoundError
    from shim.storage import join
    from shim.types import TransferContext, literal_map_to_python

    error = read_error(storage, stage.outputs)
    if error is not None:
        raise error
    try:
        data = storage.get_bytes(join(stage.outputs, "outputs.pb"))
    except StorageNotFoundError:
        raise LocalRunError(
            f"task {task.name!r} wrote neither outputs.pb nor error.pb under {stage.outputs}"
            + (f" ({detail})" if detail else "")
        ) from None
    lm = idl.LiteralMap()
    lm.ParseFromString(data)
    # remote outputs are downloaded on first use, so their scratch outlives this call: with a
    # local store it is a directory of the run (kept with its outputs), else a temp directory
    from shim.storage import is_local, local_path

    if is_local(stage.base):
        scratch = Path(local_path(stage.base)) / "scratch"
        scratch.mkdir(exist_ok=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="shim-outputs-"))
    ctx = TransferContext(storage=storage, raw_output_prefix=stage.raw, scratch_dir=scratch)
    values = literal_map_to_python(lm, task.interface.outputs, ctx, what="output")
    return make_outputs(list(task.interface.outputs), values)


def read_error(storage: Any, prefix: str) -> TaskFailedError | None:
    """The error document under ``prefix`` as a TaskFailedError, or None when there is none."""
    from shim.errors import StorageNotFoundError

    try:
        names = [u for u in storage.list(prefix) if u.rsplit("/", 1)[-1].startswith("error")]
    except StorageNotFoundError:
        return None
    if not names:
        return None
    doc = idl.ErrorDocument()
    doc.ParseFromString(storage.get_bytes(names[0]))
    e = doc.error
    return TaskFailedError(
        code=e.code,
        kind=idl.ContainerError.Kind.Name(e.kind),
        origin=idl.ErrorOrigin.Name(e.origin),
        message=e.message,
    )


@contextlib.contextmanager
def _environ(env: dict[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
