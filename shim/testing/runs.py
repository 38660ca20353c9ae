"""Running a task the way a cluster does, from a test: the local runners, or ``shim execute``
by hand; and checking what a failed run left (its error document)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shim.errors import TaskFailedError

RUNNERS = ("inprocess", "subprocess", "container")


class TaskRunner:
    """Runs tasks through the real entrypoint with one runner, staging every run under
    ``store`` (so a test can look at, or scan, what the runs wrote).

    ``runner(task, x=1)`` returns the task's outputs as a call would (one output: its value;
    several: a named tuple) or raises :class:`~shim.errors.TaskFailedError`. ``runs`` lists
    the run directories made so far, ``last_run`` the newest.
    """

    def __init__(self, runner: str, store: str | os.PathLike[str]) -> None:
        if runner not in RUNNERS:
            raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, got {runner!r}")
        self.runner = runner
        self.store = Path(store)
        self.store.mkdir(mode=0o755, parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"TaskRunner({self.runner!r}, store={str(self.store)!r})"

    def __call__(self, task: Any, /, **inputs: Any) -> Any:
        from shim.local.runner import run_task

        return run_task(task, inputs, runner=self.runner, store=str(self.store))

    @property
    def runs(self) -> list[Path]:
        """The run directories under ``store``, oldest first."""
        dirs = [p for p in self.store.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return sorted(dirs, key=lambda p: p.stat().st_mtime_ns)

    @property
    def last_run(self) -> Path | None:
        runs = self.runs
        return runs[-1] if runs else None


@dataclass
class Execution:
    """One ``shim execute`` process: its exit status and output, and the run's files."""

    task: Any
    base: str
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def output_prefix(self) -> str:
        from shim.storage import join

        return join(self.base, "outputs")

    def error(self) -> Any | None:
        """The run's ``ContainerError`` (code, kind, origin, message), or None."""
        return read_error_document(self.output_prefix)

    def result(self) -> Any:
        """The decoded outputs, or :class:`~shim.errors.TaskFailedError` from error.pb."""
        from shim.local.runner import collect_outputs
        from shim.local.staging import Stage
        from shim.storage import default_storage

        return collect_outputs(self.task, Stage(self.base), default_storage())


def stage(task: Any, inputs: dict[str, Any], base: str | os.PathLike[str]) -> list[str]:
    """Write ``task.pb`` and ``inputs.pb`` under ``base`` (a path or URL); return the
    ``shim execute`` flags the cluster would render from the task's container args."""
    from shim import idl
    from shim.local.staging import Stage, render_args
    from shim.storage import default_storage
    from shim.task.serialize import to_bytes
    from shim.task.template import SerializationContext
    from shim.types import TransferContext, python_to_literal_map

    storage = default_storage()
    st = Stage(os.fspath(base))
    sctx = SerializationContext()
    storage.put_bytes(st.template, to_bytes(task, sctx))
    with tempfile.TemporaryDirectory(prefix="shim-stage-") as scratch:
        ctx = TransferContext(
            storage=storage, raw_output_prefix=st.input_data, scratch_dir=Path(scratch)
        )
        literals = python_to_literal_map(inputs, task.interface.inputs, ctx, what="input")
    storage.put_bytes(st.inputs, idl.serialize(literals))
    args = render_args(task.container_args(sctx), st.values())
    return args[2:] if args[:2] == ["shim", "execute"] else args[1:]


def execute(
    task: Any,
    inputs: dict[str, Any],
    base: str | os.PathLike[str],
    *,
    env: dict[str, str] | None = None,
    supervise: bool | None = None,
    timeout: float = 300,
) -> Execution:
    """Stage ``task`` under ``base`` and run ``python -m shim execute`` in a fresh process,
    as the container would (this interpreter's ``sys.path`` is passed on so the test's own
    modules import). The result carries the exit status, stdout, stderr and the run's files."""
    args = stage(task, inputs, base)
    if supervise is not None:
        args = ["--supervise" if supervise else "--no-supervise", *args]
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    full.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "shim", "execute", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Execution(
        task, os.fspath(base), args, proc.returncode, proc.stdout, proc.stderr, dict(env or {})
    )


# --- error documents -----------------------------------------------------------------------------


def read_error_document(location: str | os.PathLike[str]) -> Any | None:
    """The ``ContainerError`` of an ``error.pb`` (a file, or the first ``error*.pb`` under an
    output prefix), or None when there is none."""
    from shim import idl
    from shim.errors import StorageNotFoundError
    from shim.storage import default_storage

    storage = default_storage()
    url = os.fspath(location)
    if url.endswith(".pb"):
        names = [url] if storage.exists(url) else []
    else:
        try:
            names = sorted(u for u in storage.list(url) if u.rsplit("/", 1)[-1].startswith("error"))
        except (StorageNotFoundError, FileNotFoundError):
            names = []
    if not names:
        return None
    doc = idl.ErrorDocument()
    doc.ParseFromString(storage.get_bytes(names[0]))
    return doc.error


def _check(
    what: str,
    code: str,
    kind: str,
    origin: str,
    message: str,
    *,
    expect_code: str | None,
    expect_kind: str | None,
    expect_origin: str | None,
    reason: str | None,
    contains: str | None,
) -> None:
    from shim.errors import reason_of

    problems = []
    if expect_code is not None and code != expect_code:
        problems.append(f"code {code!r}, expected {expect_code!r}")
    if expect_kind is not None and kind != expect_kind:
        problems.append(f"kind {kind!r}, expected {expect_kind!r}")
    if expect_origin is not None and origin != expect_origin:
        problems.append(f"origin {origin!r}, expected {expect_origin!r}")
    if reason is not None and reason not in reason_of(message, code):
        problems.append(f"reason {reason_of(message, code)!r} does not contain {reason!r}")
    if contains is not None and contains not in message:
        problems.append(f"message does not contain {contains!r}")
    if problems:
        raise AssertionError(
            f"{what}: " + "; ".join(problems) + f"\n--- the message ---\n{message.rstrip()}"
        )


def assert_task_failed(
    error: BaseException,
    *,
    code: str | None = None,
    kind: str | None = None,
    origin: str | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> TaskFailedError:
    """Check a :class:`~shim.errors.TaskFailedError`: ``code`` (``USER:ValueError``), ``kind``
    (``NON_RECOVERABLE`` / ``RECOVERABLE``), ``origin`` (``USER`` / ``SYSTEM``) exactly;
    ``reason`` (in the document's ``Message:`` part) and ``message`` (anywhere, trace
    included) as substrings. Returns the error."""
    if not isinstance(error, TaskFailedError):
        raise AssertionError(f"expected a TaskFailedError, got {type(error).__name__}: {error}")
    _check(
        "the task failed differently",
        error.code,
        error.kind,
        error.origin,
        error.error_message,
        expect_code=code,
        expect_kind=kind,
        expect_origin=origin,
        reason=reason,
        contains=message,
    )
    return error


def assert_error_document(
    location: str | os.PathLike[str],
    *,
    code: str | None = None,
    kind: str | None = None,
    origin: str | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> Any:
    """Check the error document at ``location`` (an ``error.pb`` or an output prefix) as
    :func:`assert_task_failed` checks an error; returns its ``ContainerError``."""
    from shim import idl

    err = read_error_document(location)
    if err is None:
        raise AssertionError(f"no error document at {os.fspath(location)}")
    _check(
        f"the error document at {os.fspath(location)}",
        err.code,
        idl.enum_name(idl.ContainerError.Kind, err.kind),
        idl.enum_name(idl.ErrorOrigin, err.origin),
        err.message,
        expect_code=code,
        expect_kind=kind,
        expect_origin=origin,
        reason=reason,
        contains=message,
    )
    return err


@contextlib.contextmanager
def task_fails(
    *,
    code: str | None = None,
    kind: str | None = None,
    origin: str | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> Iterator[list[TaskFailedError]]:
    """``with task_fails(code="USER:ValueError") as failure:`` -- the block must raise a
    :class:`~shim.errors.TaskFailedError` that :func:`assert_task_failed` accepts;
    ``failure[0]`` is that error."""
    caught: list[TaskFailedError] = []
    try:
        yield caught
    except TaskFailedError as e:
        caught.append(
            assert_task_failed(
                e, code=code, kind=kind, origin=origin, reason=reason, message=message
            )
        )
        return
    raise AssertionError(f"the task did not fail (expected {code or 'a failure'})")
