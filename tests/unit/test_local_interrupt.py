"""Ctrl-C during a local run raises KeyboardInterrupt after the run is stopped and cleaned up."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import shim
from shim import idl
from tests.support import executors as ex
from tests.support.tasks import make_task


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(root))
    return root


def error_code(run_dir: Path) -> str:
    doc = idl.ErrorDocument()
    doc.ParseFromString((run_dir / "outputs" / "error.pb").read_bytes())
    return doc.error.code


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def test_ctrl_c_in_process_raises_keyboard_interrupt(store, tmp_path):
    marker = tmp_path / "workdir.txt"
    t = make_task(ex.InterruptsItself, inputs={"marker": str}, name="tests.ctrl_c")
    with pytest.raises(KeyboardInterrupt):
        shim.with_runcontext(name="ctrl-c").run(t, marker=str(marker))
    run_dir = store / "ctrl-c"
    assert not Path(marker.read_text()).exists()  # the entrypoint's scratch is gone
    assert error_code(run_dir) == "SYSTEM:Terminated"  # the run record keeps the reason
    assert record(run_dir)["status"] == "interrupted"


def _interrupt_main_when(path: Path, timeout: float = 60) -> threading.Thread:
    """SIGINT to the main thread (what Ctrl-C does) as soon as ``path`` exists."""
    main = threading.main_thread().ident

    def go() -> None:
        deadline = time.monotonic() + timeout
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_ctrl_c_stops_a_subprocess_run(store, tmp_path):
    marker = tmp_path / "child.pid"
    t = make_task(ex.MarksThenSleeps, inputs={"marker": str}, name="tests.ctrl_c_sub")
    thread = _interrupt_main_when(marker)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        shim.with_runcontext(runner="subprocess", name="sub").run(t, marker=str(marker))
    thread.join()
    assert time.monotonic() - start < 40  # not the executor's minute
    assert _gone(int(marker.read_text()))
    # stopped with SIGTERM, not killed: the child wrote its error document
    assert error_code(store / "sub") == "SYSTEM:Terminated"
    assert record(store / "sub")["status"] == "interrupted"


# --- function tasks: the body in this process, children in worker threads ---------------------


def _interrupt_main_when_started(marks: Path, n: int, timeout: float = 60) -> threading.Thread:
    main = threading.main_thread().ident

    def go() -> None:
        deadline = time.monotonic() + timeout
        while len(list(marks.iterdir())) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("task", "children"),
    [
        ("works_alone", 0),  # a sync body, no event loop: in this thread
        ("works_after_pre", 0),  # a sync body after a plugin's pre: in a worker thread
        ("gathers_waiting", 3),  # async children, each in its own event loop and thread
        ("gathers_working", 3),  # sync children through .aio(), in worker threads
    ],
)
def test_ctrl_c_during_a_function_task_stops_it_and_its_children(store, tmp_path, task, children):
    """Ctrl-C raises KeyboardInterrupt once the body and every gathered child have stopped
    (the children used to run to their end first: 300 s here), each run recorded as such."""
    from tests.support import fn_tasks as fn

    marks = tmp_path / "marks"
    marks.mkdir()
    inputs = {"marks": str(marks), **({"n": children} if children else {"i": 0})}
    thread = _interrupt_main_when_started(marks, max(children, 1))
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        shim.with_runcontext(name="fn-ctrl-c").run(getattr(fn, task), **inputs)
    thread.join()
    assert time.monotonic() - start < 60  # not the bodies' 300 s
    run_dir = store / "fn-ctrl-c"
    assert record(run_dir)["status"] == "interrupted"
    assert error_code(run_dir) == "SYSTEM:Terminated"
    kids = sorted((run_dir / "raw" / "children").glob("*"))
    assert len(kids) == children
    for kid in kids:
        assert record(kid)["status"] == "interrupted" and error_code(kid) == "SYSTEM:Terminated"


def test_a_timed_out_child_is_stopped_not_left_running(store, tmp_path):
    """asyncio.wait_for's timeout cancels the call: the child's run stops (interrupted)."""
    from tests.support import fn_tasks as fn

    marks = tmp_path / "marks"
    marks.mkdir()
    assert shim.with_runcontext(name="fn-timeout").run(fn.times_out_child, marks=str(marks)) == (
        "timed out"
    )
    (kid,) = (store / "fn-timeout" / "raw" / "children").glob("*")
    assert record(kid)["status"] == "interrupted"


@pytest.mark.parametrize("parent_runner", ["inprocess", "subprocess"])
def test_ctrl_c_stops_children_that_run_as_subprocesses(
    store, tmp_path, monkeypatch, parent_runner
):
    """Children run by SHIM_RUNNER=subprocess are stopped too (SIGTERM: they write their
    error documents), whether the parent runs here or in a subprocess of its own; none is
    left running. A parent in a subprocess used to be killed after its grace period while its
    children, in sessions of their own, ran on."""
    from tests.support import fn_tasks as fn

    monkeypatch.setenv("SHIM_RUNNER", "subprocess")
    marks = tmp_path / "marks"
    marks.mkdir()
    thread = _interrupt_main_when_started(marks, 3)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        shim.with_runcontext(name="fn-sub", runner=parent_runner).run(
            fn.gathers_working, marks=str(marks), n=3
        )
    thread.join()
    assert time.monotonic() - start < 60
    deadline = time.monotonic() + 30  # a killed parent's children would run for 300 s
    pids = [int(p.read_text()) for p in marks.iterdir()]
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in pids)
    run_dir = store / "fn-sub"
    assert record(run_dir)["status"] == "interrupted"
    kids = sorted((run_dir / "raw" / "children").glob("*"))
    assert len(kids) == 3
    for kid in kids:
        assert record(kid)["runner"] == "subprocess"
        assert record(kid)["status"] == "interrupted" and error_code(kid) == "SYSTEM:Terminated"
