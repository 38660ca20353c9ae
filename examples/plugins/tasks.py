"""Tasks built by the example plugins (``shim run examples/plugins/tasks.py:count_rows``)."""

from __future__ import annotations

import sqlite3

from examples.plugins.echo import EchoConfig
from examples.plugins.scratch_db import ScratchDB, scratch_db
from shim import TaskEnvironment

greetings = TaskEnvironment(name="greetings", plugin_config=EchoConfig(message="hello"))
reports = TaskEnvironment(
    name="reports",
    plugin_config=ScratchDB(setup="CREATE TABLE numbers (n INTEGER)", keep=True),
)


@greetings.task
def greet(name: str) -> str:
    return f"hi {name}"


@reports.task
def count_rows(n: int) -> int:
    with sqlite3.connect(scratch_db()) as con:
        con.executemany("INSERT INTO numbers VALUES (?)", [(i,) for i in range(n)])
        return con.execute("SELECT COUNT(*) FROM numbers").fetchone()[0]
