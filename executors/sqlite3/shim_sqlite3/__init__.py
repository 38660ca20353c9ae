"""shimkit-sqlite3: the SQLite3 task and its executor.

``SQLite3Task`` and ``SQLite3Config`` are what workflow users import; ``SQLite3TaskExecutor``
is what the image runs. Attributes load lazily, so the runtime importing
``shim_sqlite3.executor`` does not pull in the authoring side. The pure pieces live in
``shim_sqlite3.query`` (placeholders and rendering), ``shim_sqlite3.archive`` (safe
extraction) and ``shim_sqlite3.reader`` (read-only query streamed to parquet; imports pyarrow).
"""

from __future__ import annotations

from shim._lazy import lazy_exports

_EXPORTS = {
    "SQLite3Task": "shim_sqlite3.task",
    "SQLite3Config": "shim_sqlite3.config",
    "SQLite3TaskExecutor": "shim_sqlite3.executor",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("shim_sqlite3", _EXPORTS, globals())
