"""An SQLite3Task run inside the sqlite3 image, on a file:// store and on S3 (moto)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from shim_sqlite3 import SQLite3Config, SQLite3Task

from shim import TaskFailedError
from shim.storage import default_storage

pytestmark = pytest.mark.container


def make_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER, name TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", ((i, f"n{i}") for i in range(1000)))
    con.commit()
    con.close()
    path.chmod(0o644)
    return path


def sqlite_task(uri: str, image: str) -> SQLite3Task:
    return SQLite3Task(
        name="tests.container.sqlite",
        query_template="SELECT id, name FROM t WHERE id >= {{ .inputs.n }} ORDER BY id",
        inputs={"n": int},
        task_config=SQLite3Config(uri=uri),
        container_image=image,
    )


def test_file_store_in_container(sqlite3_image, docker_client, tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(store))
    db = make_db(store / "data" / "db.sqlite")
    df = sqlite_task(db.as_uri(), sqlite3_image)(n=997, runner="container")
    assert df.to_arrow().column("id").to_pylist() == [997, 998, 999]
    assert df.uri.startswith(str(store))


def test_s3_store_in_container(
    sqlite3_image, docker_client, s3_env, s3_bucket, tmp_path, monkeypatch
):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    db = make_db(tmp_path / "db.sqlite")
    default_storage().put_file(db, f"{s3_bucket}/dbs/db.sqlite")
    t = sqlite_task(f"{s3_bucket}/dbs/db.sqlite", sqlite3_image)
    df = t(n=998, runner="container", store=f"{s3_bucket}/runs")
    assert df.uri.startswith(f"{s3_bucket}/runs")
    assert df.to_arrow().column("name").to_pylist() == ["n998", "n999"]


def test_user_error_in_container(sqlite3_image, docker_client, tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(store))
    db = make_db(store / "data" / "db.sqlite")
    t = SQLite3Task(
        name="tests.container.bad",
        query_template="SELEC nonsense",
        task_config=SQLite3Config(uri=db.as_uri()),
        container_image=sqlite3_image,
    )
    with pytest.raises(TaskFailedError) as ei:
        t(runner="container")
    assert (ei.value.code, ei.value.kind, ei.value.origin) == (
        "USER:QueryError",
        "NON_RECOVERABLE",
        "USER",
    )
