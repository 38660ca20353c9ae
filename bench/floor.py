"""The floor: the same query read straight into Arrow by ADBC and written by pyarrow.

``python floor.py DB OUT [--zip]``: no framework, no template, no object store.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile

import adbc_driver_sqlite.dbapi as dbapi
import pyarrow.parquet as pq

QUERY = "SELECT * FROM t WHERE id >= 0"


def main() -> None:
    db, out = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        if "--zip" in sys.argv[3:]:
            with zipfile.ZipFile(db) as z:
                db = z.extract(z.namelist()[0], tmp)
        with dbapi.connect(db) as con, con.cursor() as cur:
            cur.execute(QUERY)
            pq.write_table(cur.fetch_arrow_table(), out)


if __name__ == "__main__":
    main()
