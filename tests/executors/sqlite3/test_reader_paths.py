"""The two ways the reader builds Arrow arrays give the same parquet, byte for byte in values
and types: ``pa.array`` (no pandas installed, or pandas already imported) and assembling
buffers (pandas installed but not imported: ``pa.array`` would import it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from shim_sqlite3 import reader

from tests.executors.sqlite3.test_reader import MIXED_COLUMNS, MIXED_EXPECTED, MIXED_ROWS, make_db

ROWS = [
    (1, 0.5, "ascii", b"\x00\xff", None),
    (None, None, None, None, None),
    (-(2**63), -0.0, "héllo wörld ✓", b"", None),
    (2**63 - 1, float("inf"), "", b"x" * 1000, None),
    (0, 1e-300, "a" * 5000, None, None),
]


@pytest.fixture(params=[False, True], ids=["pa.array", "buffers"])
def via_buffers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(reader, "_avoid_pandas", lambda: request.param)
    return request.param


@pytest.mark.parametrize("batch_rows", [1, 2, 65536])
def test_typed_columns_with_nulls(tmp_path: Path, via_buffers: bool, batch_rows: int) -> None:
    db = make_db(
        tmp_path / "p.db", "create table p(i integer, r real, t text, b blob, n);", ROWS, "p"
    )
    info = reader.query_to_parquet(
        db, "select * from p", None, tmp_path / "out", batch_rows=batch_rows
    )
    table = pq.read_table(info.files[0])
    assert [str(f.type) for f in table.schema] == ["int64", "double", "string", "binary", "null"]
    assert table.to_pylist() == [dict(zip(["i", "r", "t", "b", "n"], r, strict=True)) for r in ROWS]
    table.validate(full=True)


@pytest.mark.parametrize("batch_rows", [1, 3, 65536])
def test_mixed_columns(tmp_path: Path, via_buffers: bool, batch_rows: int) -> None:
    cols = ", ".join(MIXED_COLUMNS)
    db = make_db(
        tmp_path / "m.db",
        f"create table m(k integer primary key, {cols});",
        [(i, *r) for i, r in enumerate(MIXED_ROWS)],
        "m",
    )
    info = reader.query_to_parquet(
        db, f"select {cols} from m order by k", None, tmp_path / "out", batch_rows=batch_rows
    )
    table = pq.read_table(info.files[0])
    for name, (typ, values) in MIXED_EXPECTED.items():
        assert table.schema.field(name).type == typ, name
        assert table.column(name).to_pylist() == values, name


def test_pandas_is_not_imported(tmp_path: Path) -> None:
    import pandas  # noqa: F401 - a dev dependency: the test must run, never skip

    db = make_db(
        tmp_path / "p.db", "create table p(i integer, r real, t text, b blob, n);", ROWS, "p"
    )
    script = textwrap.dedent(
        """
        import json, sys
        from shim_sqlite3.reader import query_to_parquet
        query_to_parquet(sys.argv[1], "select * from p", None, sys.argv[2])
        print(json.dumps("pandas" in sys.modules))
        """
    )
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root), str(root / "executors" / "sqlite3"), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(db), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) is False
