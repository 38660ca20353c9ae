"""An SQLite3Task run inside the sqlite3 image, on a file:// store and on S3 (moto)."""

from __future__ import annotations

import os
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
    assert str(ei.value).startswith(
        'USER:QueryError (NON_RECOVERABLE, USER): near "SELEC": syntax error'
    ), str(ei.value)


def test_shim_run_in_container_prints_the_reason(sqlite3_image, docker_client, tmp_path):
    """``shim run --runner container``: code, kind and the reason, once; no trace."""
    import subprocess
    import sys

    store = tmp_path / "store"
    db = make_db(store / "data" / "db.sqlite")
    tasks = tmp_path / "ctasks.py"
    tasks.write_text(
        "from shim_sqlite3 import SQLite3Config, SQLite3Task\n"
        f"bad = SQLite3Task(name='ctasks.bad', query_template='SELEC nonsense', "
        f"task_config=SQLite3Config(uri={db.as_uri()!r}), container_image={sqlite3_image!r})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "shim", "run", f"{tasks}:bad", "--runner", "container"],
        env={**os.environ, "SHIM_LOCAL_STORE": str(store)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    first = proc.stderr.splitlines()[0]
    assert first == (
        "shim run: error: task failed: "
        'USER:QueryError (NON_RECOVERABLE, USER): near "SELEC": syntax error'
    ), proc.stderr
    assert proc.stderr.count('near "SELEC"') == 1 and "Traceback" not in proc.stderr


LEAKY = """
from shim import ShimTaskExecutor
from shim.runtime import current_context


class Leaky(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        value = current_context().secrets.get("gcp", "key")
        try:
            raise ConnectionError(f"handshake failed for {value}")
        except ConnectionError as inner:
            raise ValueError(f"cannot sign with key {value!r}") from inner
"""

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n"
)


def test_secret_never_leaves_a_container_run(sqlite3_image, docker_client, tmp_path, monkeypatch):
    """The container runner: an executor (in a local directory the task declares in
    ``local_paths``, mounted read-only, on PYTHONPATH) raises with a PEM key from
    ``_FSEC_GCP_KEY`` (forwarded) in a nested exception: neither error.pb nor the
    TaskFailedError holds a line of it."""
    import sys

    from shim import PythonCustomizedContainerTask

    store = tmp_path / "store"
    code = store / "code"
    code.mkdir(parents=True)
    (code / "leaky_exec.py").write_text(LEAKY)
    (code / "leaky_exec.py").chmod(0o644)
    code.chmod(0o755)  # the image's user (uid 1000) reads it
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(store))
    monkeypatch.setenv("_FSEC_GCP_KEY", PEM)
    monkeypatch.syspath_prepend(str(code))
    sys.modules.pop("leaky_exec", None)
    import leaky_exec

    class LeakyTask(PythonCustomizedContainerTask):
        def local_paths(self, sctx):
            return [str(code)]

    t = LeakyTask(
        name="tests.container.leaky",
        container_image=sqlite3_image,
        executor_type=leaky_exec.Leaky,
        task_type="leaky",
        task_config=None,
        outputs={"y": int},
        env_vars={"PYTHONPATH": str(code)},
    )
    with pytest.raises(TaskFailedError) as ei:
        t(runner="container")
    e = ei.value
    assert e.code == "USER:ValueError" and "[redacted]" in e.error_message
    docs = [p.read_bytes().decode("utf-8", "replace") for p in store.rglob("error*.pb")]
    assert docs
    for line in PEM.splitlines():
        for text in (str(e), e.error_message, *docs):
            assert line not in text
