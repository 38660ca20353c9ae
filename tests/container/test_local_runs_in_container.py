"""runner="container": local paths a task reads are mounted; Ctrl-C stops the container."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from shim_sqlite3 import SQLite3Config, SQLite3Task

import shim
from shim import idl
from shim.local.container import RUN_LABEL

pytestmark = pytest.mark.container


def make_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", ((i,) for i in range(10)))
    con.commit()
    con.close()
    path.chmod(0o644)
    return path


def test_database_outside_the_store_is_mounted(sqlite3_image, docker_client, tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    db = make_db(tmp_path / "elsewhere" / "db.sqlite")  # not under the store
    t = SQLite3Task(
        name="tests.container.mounted",
        query_template="SELECT id FROM t WHERE id >= {{ .inputs.n }} ORDER BY id",
        inputs={"n": int},
        task_config=SQLite3Config(uri=str(db)),
        container_image=sqlite3_image,
    )
    df = shim.with_runcontext(runner="container").run(t, n=8)
    assert df.to_arrow().column("id").to_pylist() == [8, 9]


def _ours(docker_client: Any, store: Path) -> list[Any]:
    found = docker_client.containers.list(all=True, filters={"label": RUN_LABEL})
    return [c for c in found if any(str(store) in a for a in c.attrs.get("Args") or [])]


def test_ctrl_c_stops_the_container(sqlite3_image, docker_client, tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(store))
    db = make_db(tmp_path / "db.sqlite")
    slow = SQLite3Task(  # a row every fraction of a second, forever
        name="tests.container.slow",
        query_template="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT x FROM c WHERE x % 2000000 = 0",
        task_config=SQLite3Config(uri=str(db)),
        container_image=sqlite3_image,
    )
    main = threading.main_thread().ident

    def interrupt_once_running() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            running = [c for c in _ours(docker_client, store) if c.status == "running"]
            if running:
                time.sleep(3)  # into the query
                break
            time.sleep(0.2)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=interrupt_once_running, daemon=True)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        shim.with_runcontext(runner="container", name="stopped").run(slow)
    thread.join()
    assert _ours(docker_client, store) == []
    run_dir = store / "stopped"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    doc = idl.ErrorDocument()
    doc.ParseFromString((run_dir / "outputs" / "error.pb").read_bytes())
    assert doc.error.code == "SYSTEM:Terminated", doc.error.message
