"""shimkit-sqlite3: the SQLite3 task and its executor.

Kept light on purpose: importing the package imports nothing heavy. The pure pieces live in
``shim_sqlite3.query`` (placeholders and rendering), ``shim_sqlite3.archive`` (safe
extraction) and ``shim_sqlite3.reader`` (read-only query streamed to parquet; imports pyarrow).
"""

__all__: list[str] = []
