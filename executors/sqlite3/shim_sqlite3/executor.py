"""``SQLite3TaskExecutor``: what the sqlite3 image runs for ``type = "sqlite"`` templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shim import DataFrame, ShimTaskExecutor, TaskTemplateModel
from shim.errors import StorageNotFoundError
from shim.runtime import current_context
from shim.sql.errors import DatabaseNotFoundError, QueryTemplateError
from shim_sqlite3.config import SQLite3Custom

__all__ = ["DatabaseNotFoundError", "QueryTemplateError", "SQLite3TaskExecutor", "fetch_database"]


class SQLite3TaskExecutor(ShimTaskExecutor):
    """Fetches the database, runs the query read-only, streams the result to parquet.

    ``task_type_version`` 1 (shimkit) binds input values as SQL parameters and keeps the query
    text exact; 0 reproduces flytekit's textual substitution so its templates run unchanged.
    """

    config_type = SQLite3Custom

    def execute_from_model(self, tt: TaskTemplateModel, **inputs: Any) -> DataFrame:
        from shim_sqlite3 import query
        from shim_sqlite3.reader import query_to_parquet

        cfg: SQLite3Custom = tt.task_config
        try:  # both renderers check placeholders against inputs (for templates from elsewhere)
            if tt.task_type_version == 0:
                sql, params = query.render_textual(cfg.query_template, inputs), None
            else:
                sql, params = query.render_parameterized(cfg.query_template, inputs)
        except (ValueError, TypeError) as e:
            raise QueryTemplateError(str(e)) from None
        ctx = current_context()
        work = Path(ctx.working_dir) / "sqlite3"
        work.mkdir(parents=True, exist_ok=True)
        db = fetch_database(cfg, ctx.storage, work)
        out = work / "results"
        query_to_parquet(db, sql, params, out)
        return DataFrame(str(out))


def fetch_database(cfg: SQLite3Custom, storage: Any, work: Path) -> Path:
    """The database as a local file: used in place when local, else downloaded; unpacked
    when ``compressed``."""
    from shim.storage import is_local, local_path

    if is_local(cfg.uri):
        src = Path(local_path(cfg.uri))
        if not src.is_file():
            raise DatabaseNotFoundError(
                f"database {cfg.uri} does not exist (a path inside the image, or a URL the "
                "container can read)"
            )
    else:
        src = work / "download" / (cfg.uri.rstrip("/").rsplit("/", 1)[-1] or "database")
        try:
            storage.get_file(cfg.uri, src)
        except StorageNotFoundError:
            raise DatabaseNotFoundError(f"database {cfg.uri} not found") from None
    if cfg.compressed:
        from shim_sqlite3.archive import extract_single_file

        return extract_single_file(src, work / "unpacked")
    return src
