"""Query templates of the SQLite3 task: SQLite's side of :mod:`shim.sql.template`.

Placeholders (``{{ .inputs.<name> }}``), the input checks, the textual mode of
``task_type_version`` 0 and the lexer that decides where a placeholder sits are shared by every
SQL executor and live in :mod:`shim.sql.template` (its docstring has the rules). What is
SQLite's own is here: :func:`to_sql_value` (what the sqlite3 driver binds) and
:func:`render_parameterized` with SQLite's syntax (``'...'`` strings, ``"..."``,
```...``` and ``[...]`` identifiers, ``?``/``:name``/``@name``/``$name`` parameters) and
named ``:p_<name>`` parameters.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any

from shim.sql.template import (
    PARAM_PREFIX,
    PLACEHOLDER_RE,
    SQLITE,
    check_inputs,
    collapse_whitespace,
    placeholders,
    render_textual,
)
from shim.sql.template import check_template as _check_template
from shim.sql.template import render_parameterized as _render_parameterized

__all__ = [
    "PARAM_PREFIX",
    "PLACEHOLDER_RE",
    "SqlValue",
    "check_inputs",
    "check_template",
    "collapse_whitespace",
    "placeholders",
    "render_parameterized",
    "render_textual",
    "to_sql_value",
]

#: What :func:`render_parameterized` binds: the types the sqlite3 driver accepts.
SqlValue = int | float | str | bytes | None

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def check_template(
    query_template: str, input_names: Iterable[str], *, task_type_version: int = 1
) -> None:
    """Every check of a template that needs no values (SQLite syntax): for a task being
    defined. See :func:`shim.sql.template.check_template`; raises :class:`ValueError`."""
    _check_template(query_template, input_names, syntax=SQLITE, task_type_version=task_type_version)


def to_sql_value(value: Any, *, name: str = "") -> SqlValue:
    """Convert one input value to what the SQLite driver binds.

    ============================ =====================================================
    Python                       bound as
    ============================ =====================================================
    ``None``                     NULL
    ``bool``                     INTEGER 1 / 0 (SQLite has no boolean; ``TRUE`` is 1)
    ``int``                      INTEGER (must fit 64 bits, else :class:`ValueError`)
    ``float``                    REAL
    ``str``                      TEXT
    ``bytes``/``bytearray``      BLOB
    ``datetime.datetime``        TEXT ``YYYY-MM-DD HH:MM:SS[.ffffff]``; an aware datetime is
                                 converted to UTC first and written without offset — the
                                 form SQLite's own ``datetime()`` produces, so comparisons
                                 with stored timestamps work
    ``datetime.date``            TEXT ``YYYY-MM-DD``
    ``enum.Enum``                its ``.value``, converted by these rules
    ============================ =====================================================

    Anything else raises :class:`TypeError`.
    """
    where = f"input {name!r}" if name else "value"
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return to_sql_value(value.value, name=name)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(
                f"{where}: {value} does not fit SQLite's 64-bit INTEGER "
                f"(range {_INT64_MIN} to {_INT64_MAX})"
            )
        return int(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    raise TypeError(
        f"{where}: a value of type {type(value).__module__}.{type(value).__qualname__} cannot "
        "be bound as a SQL parameter; supported types are int, float, str, bool, None, "
        "datetime, date, bytes and Enum"
    )


def render_parameterized(query_template: str, values: Mapping[str, Any]) -> tuple[str, dict]:
    """Render for ``task_type_version`` 1: placeholders become named SQL parameters.

    Returns ``(sql, params)``: ``sql`` is ``query_template`` with each placeholder in SQL code
    replaced by ``:p_<name>`` and every other character unchanged (no whitespace collapsing);
    ``params`` maps ``p_<name>`` to the value converted by :func:`to_sql_value`, ready for
    ``sqlite3.Connection.execute(sql, params)``. Only placeholders that are SQL code are
    bound; one inside a comment is left as it is.

    Raises :class:`ValueError` for a placeholder without a value, a value without a
    placeholder, a placeholder inside a string literal or quoted identifier, something that
    looks like a placeholder but is not one, or a SQL parameter written in the template
    itself (``?``, ``:name``, ...: values come only from placeholders); :class:`TypeError`
    for a value of an unsupported type.
    """
    sql, params = _render_parameterized(
        query_template, values, syntax=SQLITE, paramstyle="named", convert=to_sql_value
    )
    assert isinstance(params, dict)
    return sql, params
