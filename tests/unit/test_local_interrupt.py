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
