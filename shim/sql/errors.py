"""Errors every SQL executor raises alike (subclasses of :mod:`shim.errors`' hierarchy), and
how a message quotes the statement. An executor's own, database-specific errors subclass
these (``shim_sqlalchemy.errors``)."""

from __future__ import annotations

from shim.errors import UserError

__all__ = [
    "MAX_SQL_IN_MESSAGE",
    "DatabaseNotFoundError",
    "QueryError",
    "QueryTemplateError",
    "quoted_sql",
]

#: characters of the statement a message quotes
MAX_SQL_IN_MESSAGE = 1000


class QueryTemplateError(UserError):
    """The query template and the inputs do not fit together (a template made elsewhere:
    shimkit's tasks check this when they are defined)."""

    code = "QueryTemplateError"


class DatabaseNotFoundError(UserError):
    """The database the task names does not exist."""

    code = "DatabaseNotFound"


class QueryError(UserError):
    """The query failed in the database."""

    code = "QueryError"


def quoted_sql(sql: str) -> str:
    """``sql`` as a message quotes it: whole up to :data:`MAX_SQL_IN_MESSAGE` characters,
    else its start and ``...``."""
    return sql if len(sql) <= MAX_SQL_IN_MESSAGE else sql[:MAX_SQL_IN_MESSAGE] + "..."
