"""SQLite3Task refuses, when it is defined, what its run would refuse: a quoted placeholder (the
flytekit habit that bound parameters turn into a constant), a look-alike placeholder, a SQL
parameter written in the query. flytekit's textual mode (version 0) keeps the quotes."""

from __future__ import annotations

import pytest
from shim_sqlite3 import SQLite3Config, SQLite3Task

from shim import to_idl


def define(query: str, inputs: dict, **kw) -> SQLite3Task:
    return SQLite3Task(
        name="tests.defined",
        query_template=query,
        inputs=inputs,
        task_config=SQLite3Config(uri="/data/db.sqlite"),
        **kw,
    )


@pytest.mark.parametrize(
    "query, needle",
    [
        ("SELECT * FROM t WHERE name = '{{ .inputs.name }}'", "inside a quoted SQL string"),
        ("SELECT * FROM t WHERE name LIKE '%{{ .inputs.name }}%'", "must not be quoted"),
        ('SELECT "{{ .inputs.name }}" FROM t', "quoted identifier"),
        ("SELECT [{{ .inputs.name }}] FROM t", "quoted identifier"),
    ],
)
def test_quoted_placeholder_is_refused_when_defined(query, needle):
    with pytest.raises(ValueError) as err:
        define(query, {"name": str})
    assert str(err.value).startswith("SQLite3Task 'tests.defined': query placeholder")
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "query, needle",
    [
        ("SELECT {{ .input.name }}", "looks like a placeholder"),
        ("SELECT * FROM t WHERE id = ?", "contains the SQL parameter '?'"),
        ("SELECT * FROM t WHERE id = :id", "contains the SQL parameter ':id'"),
    ],
)
def test_other_run_time_refusals_happen_when_defined(query, needle):
    with pytest.raises(ValueError, match=r"SQLite3Task 'tests\.defined'") as err:
        define(query, {})
    assert needle in str(err.value)


def test_flytekit_textual_mode_keeps_its_quotes():
    t = define(
        "SELECT * FROM t WHERE name = '{{ .inputs.name }}'", {"name": str}, task_type_version=0
    )
    assert to_idl(t).task_type_version == 0
    with pytest.raises(ValueError, match="not used"):
        define("SELECT 1", {"name": str}, task_type_version=0)
