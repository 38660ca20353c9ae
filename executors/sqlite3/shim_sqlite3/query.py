"""Query templates of the SQLite3 task: placeholders, checks and the two rendering modes.

A template refers to task inputs with placeholders ``{{ .inputs.<name> }}``. The pattern is
flytekit's, with the same semantics (WIRE.md section 6), so a template means the same here as
there:

- ``inputs`` is matched case-insensitively and spaces are optional:
  ``{{.inputs.limit}}``, ``{{ .INPUTS.limit }}`` are the same placeholder;
- the *name* keeps its case and is compared exactly with the input names (``{{ .inputs.Limit }}``
  needs an input called ``Limit``);
- the name is a run of word characters (``\\w+``);
- a quirk kept for compatibility: flytekit's pattern does not escape its dots, so any single
  character stands where the dots are (``{{ xinputs_limit }}`` is a placeholder too).

Two rendering modes, chosen by the template's ``task_type_version``:

- **version 1** (shimkit's default), :func:`render_parameterized`: every placeholder becomes a
  named SQL parameter (``:p_<name>``) and the values are bound by the SQLite driver. The query
  text is otherwise kept byte for byte, so string literals and ``--`` comments survive, and a
  value is only ever a value: ``1; DROP TABLE t`` is a harmless string.
- **version 0**, :func:`render_textual`: flytekit's behaviour reproduced exactly (whitespace
  collapsed, ``str(value)`` pasted into the text) so templates serialized by flytekit run
  unchanged. It is open to SQL injection by design; use it only for such templates.

Where a placeholder sits matters in version 1 (it does not in version 0, which pastes text):

- in SQL code: replaced by a parameter;
- inside a ``--`` or ``/* */`` comment: left untouched and not bound (it still counts as a use
  of its input, as in flytekit);
- inside a string literal (``'{{ .inputs.name }}'``, ``'%{{ .inputs.name }}%'``) or a quoted
  identifier (``"..."``, ```...```, ``[...]``): :class:`ValueError`. Quoting a placeholder was
  needed with flytekit's textual substitution; with bound parameters the quotes would make the
  value part of a constant, so the user is told to drop them (and to build patterns with
  ``'%' || {{ .inputs.name }} || '%'``). Identifiers cannot be parameters at all.
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "PARAM_PREFIX",
    "PLACEHOLDER_RE",
    "SqlValue",
    "check_inputs",
    "collapse_whitespace",
    "placeholders",
    "render_parameterized",
    "render_textual",
    "to_sql_value",
]

#: flytekit's placeholder pattern (``flytekit.core.base_sql_task.SQLTask._INPUT_REGEX``), same
#: semantics: group 1 is the whole placeholder, group 2 the input name.
PLACEHOLDER_RE = re.compile(r"(\{\{\s*.inputs.(\w+)\s*\}\})", re.IGNORECASE)

#: Prefix of the SQL parameter that replaces ``{{ .inputs.<name> }}`` in version 1.
PARAM_PREFIX = "p_"

#: What :func:`render_parameterized` binds: the types the sqlite3 driver accepts.
SqlValue = int | float | str | bytes | None

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# Something that looks like a placeholder but is not one: "{{ .input.x }}", "{{ inputs.x }}",
# "{{ .inputs.a.b }}". Only checked in SQL code in version 1, where a stray "{{" cannot be
# meant literally.
_NEAR_MISS_RE = re.compile(r"\{\{[^{}]{0,200}?\}\}")


# --- placeholders and checks ------------------------------------------------------------------


def placeholders(query_template: str) -> list[str]:
    """Input names used by ``query_template``, in order of first appearance, without repeats.

    Names keep their case, as in flytekit (``{{ .inputs.Limit }}`` gives ``"Limit"``).
    """
    seen: dict[str, None] = {}
    for match in PLACEHOLDER_RE.finditer(query_template):
        seen.setdefault(match.group(2), None)
    return list(seen)


def check_inputs(query_template: str, input_names: Iterable[str]) -> None:
    """Check that every placeholder has an input and every input is used by a placeholder.

    Raises :class:`ValueError` describing every problem found, for example::

        query placeholder {{ .inputs.x }} has no input named 'x'; inputs are: 'limit'
        input 'y' is not used by the query: add {{ .inputs.y }} to it or remove the input
    """
    names = list(input_names)
    known = set(names)
    problems: list[str] = []
    used: set[str] = set()
    for match in PLACEHOLDER_RE.finditer(query_template):
        text, name = match.group(1), match.group(2)
        if name in used or name in known:
            used.add(name)
            continue
        used.add(name)
        listing = ", ".join(repr(n) for n in sorted(known)) if known else "(none)"
        msg = f"query placeholder {text} has no input named {name!r}; inputs are: {listing}"
        same_but_case = [n for n in known if n.lower() == name.lower()]
        if same_but_case:
            msg += f" (names are case-sensitive: did you mean {same_but_case[0]!r}?)"
        problems.append(msg)
    for name in names:
        if name not in used:
            problems.append(
                f"input {name!r} is not used by the query: add {{{{ .inputs.{name} }}}} "
                "to it or remove the input"
            )
    if problems:
        raise ValueError("; ".join(problems))


# --- version 1: bound parameters ----------------------------------------------------------------


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
    bound; one inside a comment is left as it is (see the module docstring).

    Raises :class:`ValueError` for a placeholder without a value, a value without a
    placeholder, a placeholder inside a string literal or quoted identifier, something that
    looks like a placeholder but is not one, or a SQL parameter written in the template
    itself (``?``, ``:name``, ...: values come only from placeholders); :class:`TypeError`
    for a value of an unsupported type.
    """
    check_inputs(query_template, values.keys())
    out: list[str] = []
    params: dict[str, SqlValue] = {}
    for kind, text, match in _scan(query_template):
        if kind == "placeholder_code":
            assert match is not None
            name = match.group(2)
            key = PARAM_PREFIX + name
            if key not in params:
                params[key] = to_sql_value(values[name], name=name)
            out.append(":" + key)
        elif kind == "placeholder_literal":
            raise ValueError(_quoted_placeholder_message(text, "literal"))
        elif kind == "placeholder_identifier":
            raise ValueError(_quoted_placeholder_message(text, "identifier"))
        elif kind == "parameter":
            raise ValueError(
                f"the query contains the SQL parameter {text!r}; in task_type_version 1 values "
                "are passed only through placeholders {{ .inputs.<name> }} (an input of the "
                "task), so write the placeholder instead"
            )
        elif kind == "near_miss":
            raise ValueError(
                f"{text!r} in the query looks like a placeholder but is not one; placeholders "
                "are written {{ .inputs.<name> }} with <name> made of letters, digits and _"
            )
        else:  # code, comments, literals, placeholders in comments: copied unchanged
            out.append(text)
    return "".join(out), params


def _quoted_placeholder_message(text: str, where: str) -> str:
    if where == "literal":
        return (
            f"query placeholder {text} is inside a quoted SQL string; in task_type_version 1 "
            "values are bound as SQL parameters and must not be quoted: write "
            f"{text} instead of '{text}' (to build a string, concatenate: "
            f"'%' || {text} || '%')"
        )
    return (
        f"query placeholder {text} is inside a quoted identifier; SQL parameters can only "
        "stand for values, not for table or column names"
    )


# A small lexer for SQLite's syntax, only as far as needed to know where a placeholder sits:
# string literals '...' (also x'..'), quoted identifiers "..." `...` [...], comments -- and
# /* */, SQL parameters, and everything else as code. At each position where flytekit's
# pattern would try to match, a placeholder is recognized first, whatever the state, so the
# placeholders found are exactly those of PLACEHOLDER_RE.finditer.

# Written as negated ASCII classes: the same sets as [A-Za-z_\u0080-\U0010ffff] and
# [A-Za-z0-9_$\u0080-\U0010ffff], but they compile in 0.1 ms instead of ~10 ms at start-up.
_ID_START = re.compile(r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]")
_ID_REST = re.compile(r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*")
_PARAM_TOKEN = re.compile(r"\?[0-9]*|[:@$#][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]+")
_QUOTE_END = {"'": "'", '"': '"', "`": "`", "[": "]"}


def _scan(template: str) -> list[tuple[str, str, re.Match[str] | None]]:
    """Split ``template`` into ``(kind, text, match)`` pieces that concatenate back to it.

    Kinds: ``code``, ``comment``, ``literal``, ``identifier``, ``parameter``, ``near_miss``,
    ``placeholder_code``, ``placeholder_comment``, ``placeholder_literal``,
    ``placeholder_identifier``.
    """
    pieces: list[tuple[str, str, re.Match[str] | None]] = []
    n = len(template)
    i = 0
    state = "code"  # or comment_line, comment_block, literal, identifier
    closer = ""
    start = 0  # start of the pending non-placeholder piece

    def flush(upto: int, kind: str) -> None:
        if upto > start:
            pieces.append((kind, template[start:upto], None))

    def piece_kind() -> str:
        return {
            "code": "code",
            "comment_line": "comment",
            "comment_block": "comment",
            "literal": "literal",
            "identifier": "identifier",
        }[state]

    while i < n:
        ch = template[i]
        if ch == "{":
            m = PLACEHOLDER_RE.match(template, i)
            if m is not None:
                flush(i, piece_kind())
                where = {"comment_line": "comment", "comment_block": "comment"}.get(state, state)
                pieces.append((f"placeholder_{where}", m.group(1), m))
                i = start = m.end()
                continue
            if state == "code":
                near = _NEAR_MISS_RE.match(template, i)
                if near is not None and template.startswith("{{", i):
                    flush(i, "code")
                    pieces.append(("near_miss", near.group(0), None))
                    i = start = near.end()
                    continue
        if state == "code":
            if ch in _QUOTE_END:
                flush(i, "code")
                start = i
                state = "literal" if ch == "'" else "identifier"
                closer = _QUOTE_END[ch]
                i += 1
            elif template.startswith("--", i):
                flush(i, "code")
                start, state = i, "comment_line"
                i += 2
            elif template.startswith("/*", i):
                flush(i, "code")
                start, state = i, "comment_block"
                i += 2
            elif ch in "?:@$#":
                m = _PARAM_TOKEN.match(template, i)
                if m is not None:
                    flush(i, "code")
                    pieces.append(("parameter", m.group(0), None))
                    i = start = m.end()
                else:
                    i += 1
            elif _ID_START.match(ch):
                # a whole identifier or keyword, so that "a$b" is not read as parameter "$b";
                # it stops at "{" so that a placeholder right after it is still found
                rest = _ID_REST.match(template, i + 1)
                i = rest.end() if rest is not None else i + 1
            else:
                i += 1
        elif state == "comment_line":
            i += 1
            if ch == "\n":
                flush(i, "comment")
                start, state = i, "code"
        elif state == "comment_block":
            if template.startswith("*/", i):
                i += 2
                flush(i, "comment")
                start, state = i, "code"
            else:
                i += 1
        else:  # literal or identifier
            i += 1
            if ch == closer:
                if closer != "]" and i < n and template[i] == closer:
                    i += 1  # doubled quote: an escaped quote, still inside
                else:
                    flush(i, piece_kind())
                    start, state = i, "code"
    flush(n, piece_kind())
    return pieces


# --- version 0: flytekit's textual substitution ---------------------------------------------


def collapse_whitespace(query_template: str) -> str:
    """flytekit's normalisation of a SQL template: every run of whitespace (any character
    for which ``str.isspace()`` is true, newlines and tabs included) becomes one space, and
    the ends are stripped. flytekit applies it when the task is created, so the template in a
    serialized flytekit task is already collapsed; applying it again changes nothing.
    """
    return re.sub(r"\s+", " ", query_template).strip()


def render_textual(query_template: str, values: Mapping[str, Any]) -> str:
    """Render for ``task_type_version`` 0, exactly as flytekit does.

    The template is whitespace-collapsed (:func:`collapse_whitespace`), then each placeholder
    found, in order, has every occurrence of its exact text replaced by ``str(value)`` in the
    text built so far — with no quoting or escaping at all. Values are not collapsed.

    This mode exists only so that templates written for flytekit run unchanged: it is open to
    SQL injection, ``--`` comments swallow the rest of the (now single-line) query, and string
    literals lose their inner whitespace. Raises :class:`ValueError` like
    :func:`check_inputs`.
    """
    template = collapse_whitespace(query_template)
    check_inputs(template, values.keys())
    rendered = template
    for match in PLACEHOLDER_RE.finditer(template):
        rendered = rendered.replace(match.group(1), str(values[match.group(2)]))
    return rendered
