"""SQL task helpers shared by the SQL executors and their tasks.

:mod:`shim.sql.template` (standard library only, exported here): query templates —
``{{ .inputs.<name> }}`` placeholders, the checks a task runs when it is defined, parameter
binding (``task_type_version`` 1) and flytekit's textual substitution (version 0).

:mod:`shim.sql.results` (pyarrow; import it where a query runs, it is not exported here):
result rows to Arrow arrays without a pandas import, unique column names, parquet row
groups written by a background thread.
"""

from __future__ import annotations

from shim.sql.template import (
    MYSQL,
    PARAM_PREFIX,
    PARAM_STYLES,
    PLACEHOLDER_RE,
    POSTGRESQL,
    SQLITE,
    STANDARD,
    SqlSyntax,
    check_inputs,
    check_template,
    collapse_whitespace,
    first_keyword,
    placeholders,
    render_parameterized,
    render_textual,
    statement_count,
    syntax_for,
    syntax_for_url,
)

__all__ = [
    "MYSQL",
    "PARAM_PREFIX",
    "PARAM_STYLES",
    "PLACEHOLDER_RE",
    "POSTGRESQL",
    "SQLITE",
    "STANDARD",
    "SqlSyntax",
    "check_inputs",
    "check_template",
    "collapse_whitespace",
    "first_keyword",
    "placeholders",
    "render_parameterized",
    "render_textual",
    "statement_count",
    "syntax_for",
    "syntax_for_url",
]
