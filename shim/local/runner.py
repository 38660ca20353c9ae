"""Local runs: the same serialized template and entrypoint a cluster uses, on this machine."""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from shim import envconf, idl
from shim.errors import ShimError, TaskFailedError
from shim.local.outputs import make_outputs
from shim.local.runs import FAILED, INTERRUPTED, SUCCEEDED, LocalRun, RunStore, keep_runs
from shim.local.staging import Stage, render_args
from shim.task.serialize import container_image, to_bytes
from shim.task.template import SerializationContext, TaskTemplate

RUNNERS = ("inprocess", "subprocess", "container")
#: what the runs store records as the runner of a task a connector runs (no entrypoint)
CONNECTOR = "connector"
DEFAULT_TIMEOUT = 3600.0
#: seconds a stopped subprocess or container gets to write its error document and exit
STOP_GRACE = 10.0
#: longest wait for a subprocess run without checking for an interruption
WAIT_SLICE = 0.5
#: in-process runs set the task's env_vars in os.environ, which is the whole process's
_INPROCESS = threading.Lock()
#: set while an in-process run holds :data:`_INPROCESS` (its nested runs share its environment)
_IN_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("shim_in_run", default=False)


class LocalRunError(ShimError):
    """A local run ended without an outputs or error document."""

    origin = "SYSTEM"
    code = "LocalRunFailed"


def resolve_runner(runner: str | None) -> str:
    """``runner``, else ``SHIM_RUNNER``, else ``"inprocess"``; ValueError for an unknown one."""
    if runner is None:
        return envconf.choice("SHIM_RUNNER", RUNNERS, "inprocess")
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
    prune: bool = True,
) -> Any:
    """Run ``task`` with ``inputs`` (bound to input names) and return its decoded outputs.

    One output -> its value; several -> :class:`~shim.local.outputs.Outputs` in declaration
    order; none -> ``None``; a task with a ``native_outputs(value)`` method (a function task
    declaring a NamedTuple) -> what that method makes of it. The run gets a directory and a
    record in the runs store under ``store`` (:mod:`shim.local.runs`), named ``name`` or a
    generated name. A failed run raises :class:`~shim.errors.TaskFailedError` carrying the
    error document's code, kind, origin and message, and the run's ``run_name`` and
    ``run_dir``. Ctrl-C raises ``KeyboardInterrupt``
    once the run is stopped and cleaned up. ``prune=False`` leaves the store's older runs
    alone (the controller's nested calls: their store belongs to the parent's run, whose
    outputs may point at what the children returned).

    A task that is not run by ``shim execute`` (a connector task) says how it runs here with
    a ``drive_locally(inputs, stage=, run_name=, storage=, timeout=, runner=)`` method, which
    leaves its outcome in the run's outputs; its runner is recorded as ``connector``, and a
    run started again with the same name carries on from what that method persisted.
    """
    from shim.storage import default_storage

    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    drive = getattr(task, "drive_locally", None)
    resolved = CONNECTOR if drive is not None else resolve_runner(runner)
    keep = keep_runs() if prune else 0
    storage = default_storage()
    runs = RunStore(store, storage=storage)
    run = runs.start(task=task.name, runner=resolved, name=name)
    if prune:
        with contextlib.suppress(OSError):  # housekeeping never fails a run
            runs.prune(keep)
    status, error = FAILED, None
    try:
        if drive is not None:  # bounded by ``timeout`` only when one is given
            drive(
                inputs,
                stage=run.stage,
                run_name=run.name,
                storage=storage,
                timeout=timeout,
                runner=runner,
            )
            result = collect_outputs(task, run.stage, storage)
        else:
            timeout = _default_timeout() if timeout is None else timeout
            result = _run(task, inputs, run.stage, storage, resolved, timeout)
        convert = getattr(task, "native_outputs", None)  # a function's own NamedTuple
        if convert is not None:
            result = convert(result)
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
        if isinstance(e, ShimError):  # a run that ended without a document: where to look
            e.run_name, e.run_dir = run.name, run.dir  # type: ignore[attr-defined]
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

    inputs = {**getattr(task.interface, "defaults", {}), **inputs}  # a function's defaults
    sctx = SerializationContext()
    # staged for a run that starts now, here: no fsync (a crash of this machine ends it too)
    storage.put_bytes(stage.template, to_bytes(task, sctx), durable=False)

    with tempfile.TemporaryDirectory(prefix="shim-local-") as scratch:  # uploaded right away
        ctx = TransferContext(
            storage=storage, raw_output_prefix=stage.input_data, scratch_dir=Path(scratch)
        )
        literals = python_to_literal_map(inputs, task.interface.inputs, ctx, what="input")
    storage.put_bytes(stage.inputs, idl.serialize(literals), durable=False)

    args = render_args(task.container_args(sctx), stage.values())
    exec_args = _execute_flags(args)
    env = dict(task.env_vars or {})
    if envconf.flag("SHIM_TIMINGS"):
        env.setdefault("SHIM_TIMINGS", "1")
    if runner == "inprocess" and _IN_RUN.get() and _env_differs(env):
        runner = "subprocess"  # a nested task needing other env vars cannot share os.environ
    detail = ""
    if runner == "inprocess":
        from shim.runtime.args import parse_execute_args
        from shim.runtime.entrypoint import run
        from shim.runtime.function_resolver import local_task

        with _inprocess_environment(env), local_task(task):
            # quiet: the failure reaches the caller once, as the TaskFailedError below;
            # Ctrl-C: the entrypoint records the interruption, cleans up, and re-raises
            run(
                parse_execute_args(exec_args),
                storage=storage,
                quiet=True,
                reraise_interrupt=True,
            )
    elif runner == "subprocess":
        detail = _run_subprocess(exec_args, env, timeout)
    else:
        from shim.local.container import run_task_in_container

        paths = list(task.local_paths(sctx))
        source = getattr(task, "source_root", None)  # a function task's local code
        if source:
            paths.append(source)
            env.setdefault("PYTHONPATH", source)
        res = run_task_in_container(
            container_image(task, sctx),
            args,
            stage_dir=stage.base,
            env=env,
            timeout=timeout,
            read_only_paths=paths,
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
    return envconf.number("SHIM_LOCAL_TIMEOUT", DEFAULT_TIMEOUT, positive=True, unit="seconds")


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
        stderr = _communicate(proc, timeout)
    except subprocess.TimeoutExpired:
        _stop_process(proc)
        raise LocalRunError(f"shim execute did not finish within {timeout:.0f}s") from None
    except BaseException:  # KeyboardInterrupt: stop the child before it propagates
        _stop_process(proc)
        raise
    _forward_timings(stderr)
    return f"exit status {proc.returncode}; stderr:\n{_tail(stderr)}"


def _communicate(proc: subprocess.Popen, timeout: float) -> str:
    """The child's stderr once it has ended; TimeoutExpired after ``timeout`` seconds.

    Waits in slices of :data:`WAIT_SLICE`: a nested run in a worker thread is stopped by an
    exception raised in that thread (:mod:`shim.runtime.interrupt`), which lands only between
    blocking waits (retrying ``communicate`` loses no output)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return proc.communicate(timeout=max(0.0, min(WAIT_SLICE, left)))[1]
        except subprocess.TimeoutExpired:
            if left <= WAIT_SLICE:
                raise


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
    if envconf.flag("SHIM_TIMINGS"):
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
        from shim.runtime.redaction import redactor

        raise LocalRunError(
            f"task {task.name!r} wrote neither outputs.pb nor error.pb under {stage.outputs}"
            + (f" ({redactor()(detail)})" if detail else "")
        ) from None
    lm = idl.LiteralMap()
    lm.ParseFromString(data)
    # remote outputs are downloaded on first use, so their scratch outlives this call: with a
    # local store it is a directory of the run (kept with its outputs), else a temp directory
    from shim.storage import is_local, local_path

    if is_local(stage.base):
        scratch = Path(local_path(stage.base)) / "scratch"
        scratch.mkdir(exist_ok=True)
    else:  # made on first download only: most outputs never need one
        scratch = Path(tempfile.gettempdir()) / f"shim-outputs-{secrets.token_hex(8)}"
    ctx = TransferContext(storage=storage, raw_output_prefix=stage.raw, scratch_dir=scratch)
    values = literal_map_to_python(lm, task.interface.outputs, ctx, what="output")
    return make_outputs(list(task.interface.outputs), values)


def read_error(storage: Any, prefix: str) -> TaskFailedError | None:
    """The error document under ``prefix`` as a TaskFailedError, or None when there is none.
    Its message is redacted once more with this process's secrets: a container or a foreign
    runtime may not have known them all."""
    from shim.errors import StorageNotFoundError
    from shim.runtime.redaction import redactor

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
        kind=idl.enum_name(idl.ContainerError.Kind, e.kind),
        origin=idl.enum_name(idl.ErrorOrigin, e.origin),
        message=redactor()(e.message),
    )


@contextlib.contextmanager
def _inprocess_environment(env: dict[str, str]):
    """``env`` set in ``os.environ`` for one in-process run at a time; a run nested in it (a
    task calling a task) shares the parent's environment and lock."""
    if _IN_RUN.get():
        yield
        return
    with _INPROCESS, _environ(env):
        token = _IN_RUN.set(True)
        try:
            yield
        finally:
            _IN_RUN.reset(token)


def _env_differs(env: dict[str, str]) -> bool:
    return any(os.environ.get(k) != v for k, v in env.items())


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
