"""SQL task helpers shared by the SQL executors and their tasks (standard library only).

:mod:`shim.sql.template`: query templates — ``{{ .inputs.<name> }}`` placeholders, the
checks a task runs when it is defined, parameter binding (``task_type_version`` 1) and
flytekit's textual substitution (version 0).
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
