"""Benchmark inputs, generated once under ``bench/.work/data`` (deterministic)."""

from __future__ import annotations

import os
import sqlite3
import zipfile
from pathlib import Path

#: columns of the benchmark table: an int key, a real, two texts, a nullable int
SCHEMA = "create table t(id integer primary key, x real, name text, cat text, n integer)"


def make_db(path: Path, rows: int) -> Path:
    """An SQLite file with ``rows`` rows of :data:`SCHEMA` (created once)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.execute(SCHEMA)
    con.executemany(
        "insert into t values (?, ?, ?, ?, ?)",
        ((i, i * 0.5, f"name-{i}", "abc"[i % 3], i % 7 if i % 3 else None) for i in range(rows)),
    )
    con.commit()
    con.close()
    os.replace(tmp, path)
    return path


def make_zip(db: Path) -> Path:
    """``<db>.zip`` holding the database as its only member (created once)."""
    out = db.with_name(db.name + ".zip")
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            z.write(db, arcname=db.name)
        os.replace(tmp, out)
    return out


def make_blob(path: Path, size: int) -> Path:
    """A file of ``size`` pseudo-random (incompressible) bytes (created once)."""
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    chunk = os.urandom(16 * 1024 * 1024)
    with open(tmp, "wb") as f:
        left = size
        i = 0
        while left > 0:
            # vary each chunk a little so no two are identical (defeats any dedup)
            piece = i.to_bytes(8, "little") + chunk[8 : min(left, len(chunk))]
            f.write(piece[:left])
            left -= len(piece[:left])
            i += 1
    os.replace(tmp, path)
    return path


def make_parquet_dataset(directory: Path, size: int) -> Path:
    """A dataframe of about ``size`` bytes as ``<directory>/00000`` (uncompressed parquet of
    random int64/float64 columns, so the file is close to the raw size; created once)."""
    target = directory / "00000"
    if target.exists():
        return directory
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    rows_per_group = 1 << 20  # 4 columns x 8 bytes x 1Mi rows = 32 MiB per row group
    groups = max(1, size // (rows_per_group * 32))
    schema = pa.schema(
        [("a", pa.int64()), ("b", pa.float64()), ("c", pa.int64()), ("d", pa.float64())]
    )
    tmp = directory / ".00000.tmp"
    with pq.ParquetWriter(tmp, schema, compression="none", use_dictionary=False) as w:
        for g in range(groups):
            base = g * rows_per_group
            w.write_table(
                pa.table(
                    {
                        "a": np.arange(base, base + rows_per_group, dtype=np.int64),
                        "b": rng.random(rows_per_group),
                        "c": rng.integers(0, 2**62, rows_per_group, dtype=np.int64),
                        "d": rng.standard_normal(rows_per_group),
                    },
                    schema=schema,
                )
            )
    os.replace(tmp, target)
    return directory
