"""One SQLite reader candidate: run a query, write the rows as parquet (runs in the readers venv).

``python reader_candidates.py NAME DB SQL OUT [BATCH]`` reads with candidate ``NAME`` (see
:data:`CANDIDATES`), streaming in batches of ``BATCH`` rows where the library allows, and
writes ``OUT`` (parquet). Prints ``{"rows": N}``; a failure exits 1 with the library's
message on stderr. ``bench/readers.py`` runs it, times it and checks what it wrote.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

MAX_BATCH_BYTES = 64 << 20


def _uri(db: str) -> str:
    return Path(db).resolve().as_uri() + "?mode=ro&immutable=1"


def shimkit(engine: str) -> Callable[[str, str, str, int], int]:
    def run(db: str, sql: str, out: str, batch: int) -> int:
        from shim_sqlite3.reader import query_to_parquet

        with tempfile.TemporaryDirectory(dir=os.path.dirname(out) or ".") as tmp:
            info = query_to_parquet(db, sql, None, tmp, batch_rows=batch, engine=engine)
            shutil.move(str(info.files[0]), out)
            return info.num_rows

    return run


def apsw_rows(db: str, sql: str, out: str, batch: int) -> int:
    """apsw fetches (one Python object per value, like the stdlib module); the rows go through
    shimkit's Python conversion, so only the fetch differs from ``stdlib``."""
    import apsw
    from shim_sqlite3.reader import _ParquetSink, _Restart

    con = apsw.Connection(_uri(db), flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    ranks = None
    try:
        while True:  # read again when a column must be text from the start (see reader.py)
            cur = con.execute(sql)
            names = [d[0] for d in cur.getdescription()]
            sink = _ParquetSink(Path(out), names, batch, MAX_BATCH_BYTES, ranks)
            try:
                while rows := list(itertools.islice(cur, min(batch, 8192))):
                    sink.add(rows)
            except _Restart as restart:
                sink.abort()
                ranks = restart.ranks
                continue
            sink.close()
            return sink.num_rows
    finally:
        con.close()


def adbc_stream(db: str, sql: str, out: str, batch: int) -> int:
    """ADBC's record batches streamed to parquet; each batch's schema checked against the
    first (ADBC types every column from its first batch)."""
    import adbc_driver_sqlite.dbapi as dbapi

    n = 0
    with dbapi.connect(_uri(db)) as con, con.cursor() as cur:
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch)})
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        with pq.ParquetWriter(out, reader.schema) as w:
            for b in reader:
                if b.schema != reader.schema:
                    raise TypeError(f"batch schema {b.schema} differs from {reader.schema}")
                w.write_batch(b)
                n += b.num_rows
    return n


def connectorx_stream(db: str, sql: str, out: str, batch: int) -> int:
    import connectorx as cx

    reader = cx.read_sql(
        f"sqlite://{Path(db).resolve()}", sql, return_type="arrow_stream", batch_size=batch
    )
    n = 0
    with pq.ParquetWriter(out, reader.schema) as w:
        for b in reader:
            w.write_batch(b)
            n += b.num_rows
    return n


def duckdb_scanner(db: str, sql: str, out: str, batch: int) -> int:
    """DuckDB with the sqlite scanner extension from PyPI (duckdb-extension-sqlite-scanner):
    the SQLite query runs in SQLite (``sqlite_query``), DuckDB writes the parquet."""
    import duckdb
    import duckdb_extension_sqlite_scanner as ext

    found = list(Path(ext.__file__).parent.rglob("*.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{found[0]}'")
    quoted = str(Path(db).resolve()).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS s (TYPE sqlite, READ_ONLY)")
    query = sql.replace("'", "''")
    outq = out.replace("'", "''")
    con.execute(f"COPY (SELECT * FROM sqlite_query('s', '{query}')) TO '{outq}' (FORMAT parquet)")
    return pq.ParquetFile(out).metadata.num_rows


CANDIDATES: dict[str, Callable[[str, str, str, int], int]] = {
    "native": shimkit("native"),
    "stdlib": shimkit("python"),
    "apsw": apsw_rows,
    "adbc": adbc_stream,
    "connectorx": connectorx_stream,
    "duckdb": duckdb_scanner,
}


def main() -> int:
    name, db, sql, out = sys.argv[1:5]
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 65536
    try:
        rows = CANDIDATES[name](db, sql, out, batch)
    except Exception as exc:  # reported as the candidate's failure
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
