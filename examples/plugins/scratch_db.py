"""A plugin with real ``pre``/``post``: a scratch SQLite database for each run of a task.

    env = TaskEnvironment(name="reports", plugin_config=ScratchDB(setup="CREATE TABLE t(x INT)"))

    @env.task
    def load(n: int) -> int:
        db = scratch_db()                      # the path pre made for this run
        with sqlite3.connect(db) as con:
            con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(n)])
        return n

``pre`` creates an empty database in the run's scratch directory and runs ``setup`` in it;
the body finds it with :func:`scratch_db` (``shim.current_context().data["scratch_db"]``).
``post`` reports the tables and their row counts as ``<output prefix>/scratch-db.json`` (and
uploads the database itself next to it with ``keep=True``), then deletes the file. It returns
None, so the task's result is the function's.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from shim.extend import (
    AsyncFunctionTaskTemplate,
    SerializationContext,
    TaskPluginRegistry,
    current_context,
)

REPORT_FILE = "scratch-db.json"
DB_FILE = "scratch.db"


@dataclass(frozen=True)
class ScratchDB:
    """``setup``: SQL run in the fresh database; ``keep``: upload it with the outputs."""

    setup: str = ""
    keep: bool = False


def scratch_db() -> str:
    """The path of the running task's scratch database."""
    return current_context().data["scratch_db"]


@dataclass(eq=False, kw_only=True)
class ScratchDBTask(AsyncFunctionTaskTemplate):
    task_type: str = "python-task"  # runs like any function task: no platform plugin needed
    plugin_config: ScratchDB

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        return {"scratch_db": {"setup": self.plugin_config.setup, "keep": self.plugin_config.keep}}

    async def pre(self, **inputs: Any) -> dict[str, Any]:
        path = os.path.join(current_context().working_dir, DB_FILE)
        with sqlite3.connect(path) as con:
            if self.plugin_config.setup:
                con.executescript(self.plugin_config.setup)
        return {"scratch_db": path}

    async def post(self, return_vals: Any) -> Any:
        ctx = current_context()
        path = ctx.data["scratch_db"]
        con = sqlite3.connect(path)
        try:
            tables = [
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            counts = {t: con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        finally:
            con.close()
        from shim.storage import join

        report = {"tables": counts, "bytes": os.path.getsize(path)}
        ctx.storage.put_bytes(join(ctx.output_prefix, REPORT_FILE), json.dumps(report).encode())
        if self.plugin_config.keep:
            ctx.storage.put_file(path, join(ctx.output_prefix, DB_FILE))
        os.remove(path)
        return None  # keep the function's result


TaskPluginRegistry.register(ScratchDB, ScratchDBTask)
