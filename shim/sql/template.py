"""Query templates of SQL tasks: placeholders, checks and the two rendering modes.

Shared by every SQL executor (``shim_sqlite3``, ``shim_sqlalchemy``) and by their tasks, which
check a template when it is defined. Standard library only: nothing heavy is imported.

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

- **version 1** (shimkit's), :func:`render_parameterized`: every placeholder becomes a SQL
  parameter marker in the driver's parameter style (``:p_<name>``, ``%(p_<name>)s``, ``?``...)
  and the values are bound by the driver. The query text is otherwise kept byte for byte, so
  string literals and ``--`` comments survive, and a value is only ever a value:
  ``1; DROP TABLE t`` is a harmless string.
- **version 0**, :func:`render_textual`: flytekit's behaviour reproduced exactly (whitespace
  collapsed, ``str(value)`` pasted into the text) so templates serialized by flytekit run
  unchanged. It is open to SQL injection by design; use it only for such templates.

Where a placeholder sits matters in version 1 (it does not in version 0, which pastes text).
A small lexer for the database's SQL syntax (:class:`SqlSyntax`: :data:`SQLITE`,
:data:`POSTGRESQL`, :data:`MYSQL`, :data:`STANDARD`) finds out:

- in SQL code: replaced by a parameter;
- inside a ``--`` or ``/* */`` comment: left untouched and not bound (it still counts as a use
  of its input, as in flytekit);
- inside a string literal (``'{{ .inputs.name }}'``, ``'%{{ .inputs.name }}%'``, a PostgreSQL
  ``$$...$$`` or ``E'...'`` string) or a quoted identifier (``"..."``, ```...```, ``[...]``):
  :class:`ValueError`. Quoting a placeholder was needed with flytekit's textual
  substitution; with bound parameters the quotes would make the value part of a constant, so
  the user is told to drop them (and to build patterns with ``'%' || {{ .inputs.name }} ||
  '%'``). Identifiers cannot be parameters at all.

:func:`check_template` runs every check that does not need the values, so a task can refuse a
bad template when it is defined instead of when it runs. :func:`first_keyword` and
:func:`statement_count` read a rendered statement with the same lexer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

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

#: flytekit's placeholder pattern (``flytekit.core.base_sql_task.SQLTask._INPUT_REGEX``), same
#: semantics: group 1 is the whole placeholder, group 2 the input name.
PLACEHOLDER_RE = re.compile(r"(\{\{\s*.inputs.(\w+)\s*\}\})", re.IGNORECASE)

#: Prefix of the SQL parameter that replaces ``{{ .inputs.<name> }}`` in version 1.
PARAM_PREFIX = "p_"

#: The DB-API parameter styles (PEP 249) :func:`render_parameterized` writes.
PARAM_STYLES = ("named", "pyformat", "qmark", "format", "numeric", "numeric_dollar")

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


# --- SQL syntax: just enough to know where a placeholder sits -----------------------------------

# Written as negated ASCII classes: the same sets as [A-Za-z_\u0080-\U0010ffff] and
# [A-Za-z0-9_$\u0080-\U0010ffff], but they compile in 0.1 ms instead of ~10 ms at start-up.
_ID_START = re.compile(r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]")
_ID_REST = re.compile(r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*")
# PostgreSQL: $tag$ opens a dollar-quoted string (tag: an identifier without "$", or empty)
_DOLLAR_TAG = re.compile(
    r"\$(?:[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)?\$"
)


class SqlSyntax:
    """The lexical rules of one SQL dialect that decide where a placeholder sits.

    ``quotes`` maps an opening quote to ``(closing quote, kind)`` with kind ``"literal"`` or
    ``"identifier"``; a doubled closing quote stays inside (except for ``]``). Quotes in
    ``backslash_quotes`` also take a backslash escape (MySQL). ``escape_string_prefix``: an
    identifier ``E``/``e`` right before ``'`` opens a backslash-escaped string (PostgreSQL).
    ``dollar_quotes``: ``$tag$...$tag$`` strings (PostgreSQL). ``nested_comments``: ``/*``
    nests (PostgreSQL). ``line_comments``: what starts a comment to the end of the line.
    ``parameter``: what a SQL parameter written in the template looks like (refused: values
    come only from placeholders); ``parameter_starts`` the characters it can start with.

    (A plain class, not a dataclass: it is built at import on the entrypoint's path, where
    a dataclass's generated code costs a millisecond.)
    """

    __slots__ = (
        "_starts",
        "backslash_quotes",
        "dollar_quotes",
        "escape_string_prefix",
        "line_comments",
        "name",
        "nested_comments",
        "parameter",
        "parameter_starts",
        "quotes",
    )

    def __init__(
        self,
        *,
        name: str,
        quotes: Mapping[str, tuple[str, str]],
        line_comments: tuple[str, ...] = ("--",),
        backslash_quotes: frozenset[str] = frozenset(),
        escape_string_prefix: bool = False,
        dollar_quotes: bool = False,
        nested_comments: bool = False,
        parameter: re.Pattern[str] | None = None,
        parameter_starts: str = "",
    ) -> None:
        self.name = name
        self.quotes = dict(quotes)
        self.line_comments = line_comments
        self.backslash_quotes = backslash_quotes
        self.escape_string_prefix = escape_string_prefix
        self.dollar_quotes = dollar_quotes
        self.nested_comments = nested_comments
        self.parameter = parameter
        self.parameter_starts = parameter_starts
        self._starts = frozenset(c[0] for c in line_comments)

    def __repr__(self) -> str:
        return f"SqlSyntax({self.name!r})"


#: SQLite: '...' strings; "..." `...` [...] identifiers; ? ?NNN :name @name $name parameters.
SQLITE = SqlSyntax(
    name="sqlite",
    quotes={
        "'": ("'", "literal"),
        '"': ('"', "identifier"),
        "`": ("`", "identifier"),
        "[": ("]", "identifier"),
    },
    parameter=re.compile(r"\?[0-9]*|[:@$#][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]+"),
    parameter_starts="?:@$#",
)

#: PostgreSQL: '...' and E'...' strings, $tag$...$tag$ strings, "..." identifiers, nested
#: /* */ comments, $1 parameters. "::" casts, "?" (jsonb) and "@"/"#" operators are code.
POSTGRESQL = SqlSyntax(
    name="postgresql",
    quotes={"'": ("'", "literal"), '"': ('"', "identifier")},
    escape_string_prefix=True,
    dollar_quotes=True,
    nested_comments=True,
    parameter=re.compile(r"\$[0-9]+"),
    parameter_starts="$",
)

#: MySQL / MariaDB: '...' and "..." strings with backslash escapes, `...` identifiers, "#" and
#: "-- " comments.
MYSQL = SqlSyntax(
    name="mysql",
    quotes={"'": ("'", "literal"), '"': ('"', "literal"), "`": ("`", "identifier")},
    line_comments=("-- ", "--\t", "--\n", "#"),
    backslash_quotes=frozenset("'\""),
)

#: Any other dialect: SQL standard '...' strings, "..." identifiers, -- and /* */ comments.
STANDARD = SqlSyntax(
    name="standard",
    quotes={"'": ("'", "literal"), '"': ('"', "identifier")},
    parameter=re.compile(r"\?"),
    parameter_starts="?",
)

_SYNTAXES = {
    "sqlite": SQLITE,
    "postgresql": POSTGRESQL,
    "postgres": POSTGRESQL,
    "cockroachdb": POSTGRESQL,
    "redshift": POSTGRESQL,
    "mysql": MYSQL,
    "mariadb": MYSQL,
}


def syntax_for(dialect_name: str) -> SqlSyntax:
    """The syntax of a SQLAlchemy dialect name (``postgresql``, ``sqlite``, ``mysql``...);
    :data:`STANDARD` for the others."""
    return _SYNTAXES.get(dialect_name.lower(), STANDARD)


def syntax_for_url(url: str) -> SqlSyntax:
    """The syntax of the database a SQLAlchemy URL names (``postgresql+psycopg://...`` ->
    :data:`POSTGRESQL`), read from its scheme without importing SQLAlchemy."""
    scheme = url.split(":", 1)[0] if ":" in url else ""
    return syntax_for(scheme.split("+", 1)[0])


# piece kinds of _scan
_CODE, _COMMENT, _LITERAL, _IDENT = "code", "comment", "literal", "identifier"


def _scan(template: str, syntax: SqlSyntax) -> list[tuple[str, str, re.Match[str] | None]]:
    """Split ``template`` into ``(kind, text, match)`` pieces that concatenate back to it.

    Kinds: ``code``, ``comment``, ``literal``, ``identifier``, ``parameter``, ``near_miss``,
    ``placeholder_code``, ``placeholder_comment``, ``placeholder_literal``,
    ``placeholder_identifier``. At each position where flytekit's pattern would try to match,
    a placeholder is recognized first, whatever the state, so the placeholders found are
    exactly those of ``PLACEHOLDER_RE.finditer``.
    """
    pieces: list[tuple[str, str, re.Match[str] | None]] = []
    n = len(template)
    i = 0
    state = _CODE  # or "line_comment", "block_comment", _LITERAL, _IDENT
    closer = ""  # closing quote of the literal/identifier, or the $tag$ of a dollar string
    backslash = False  # the current literal takes backslash escapes
    depth = 0  # nesting of block comments
    start = 0  # start of the pending non-placeholder piece
    quotes = syntax.quotes
    comment_starts = syntax._starts
    param_starts = syntax.parameter_starts

    def flush(upto: int, kind: str) -> None:
        if upto > start:
            pieces.append((kind, template[start:upto], None))

    def piece_kind() -> str:
        if state in ("line_comment", "block_comment"):
            return _COMMENT
        return state

    while i < n:
        ch = template[i]
        if ch == "{":
            m = PLACEHOLDER_RE.match(template, i)
            if m is not None:
                kind = piece_kind()
                flush(i, kind)
                pieces.append((f"placeholder_{kind}", m.group(1), m))
                i = start = m.end()
                continue
            if state == _CODE:
                near = _NEAR_MISS_RE.match(template, i)
                if near is not None and template.startswith("{{", i):
                    flush(i, _CODE)
                    pieces.append(("near_miss", near.group(0), None))
                    i = start = near.end()
                    continue
        if state == _CODE:
            if ch in quotes:
                flush(i, _CODE)
                start = i
                closer, state = quotes[ch]
                backslash = ch in syntax.backslash_quotes
                i += 1
            elif ch in comment_starts and any(
                template.startswith(c, i) for c in syntax.line_comments
            ):
                flush(i, _CODE)
                start, state = i, "line_comment"
                i += 1
            elif template.startswith("/*", i):
                flush(i, _CODE)
                start, state, depth = i, "block_comment", 1
                i += 2
            elif ch == "$" and syntax.dollar_quotes and (tag := _DOLLAR_TAG.match(template, i)):
                flush(i, _CODE)
                start, state, closer, backslash = i, _LITERAL, tag.group(0), False
                i = tag.end()
            elif ch in param_starts and syntax.parameter is not None:
                m = syntax.parameter.match(template, i)
                if m is not None:
                    flush(i, _CODE)
                    pieces.append(("parameter", m.group(0), None))
                    i = start = m.end()
                else:
                    i += 1
            elif _ID_START.match(ch):
                # a whole identifier or keyword, so that "a$b" is not read as parameter "$b";
                # it stops at "{" so that a placeholder right after it is still found
                rest = _ID_REST.match(template, i + 1)
                end = rest.end() if rest is not None else i + 1
                if (
                    syntax.escape_string_prefix
                    and end == i + 1
                    and ch in "eE"
                    and template.startswith("'", end)
                ):
                    flush(i, _CODE)
                    start, state, closer, backslash = i, _LITERAL, "'", True
                    end += 1
                i = end
            else:
                i += 1
        elif state == "line_comment":
            i += 1
            if ch == "\n":
                flush(i, _COMMENT)
                start, state = i, _CODE
        elif state == "block_comment":
            if template.startswith("*/", i):
                i += 2
                depth -= 1
                if depth == 0:
                    flush(i, _COMMENT)
                    start, state = i, _CODE
            elif syntax.nested_comments and template.startswith("/*", i):
                depth += 1
                i += 2
            else:
                i += 1
        elif len(closer) > 1:  # dollar-quoted string: ends at the same $tag$
            if ch == "$" and template.startswith(closer, i):
                i += len(closer)
                flush(i, _LITERAL)
                start, state = i, _CODE
            else:
                i += 1
        else:  # literal or identifier
            i += 1
            if backslash and ch == "\\" and not template.startswith("{", i):
                i += 1  # the escaped character stays inside (a "{" is looked at first)
            elif ch == closer:
                if closer != "]" and i < n and template[i] == closer:
                    i += 1  # doubled quote: an escaped quote, still inside
                else:
                    flush(i, piece_kind())
                    start, state = i, _CODE
    flush(n, piece_kind())
    return pieces


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


def _problem(kind: str, text: str) -> str | None:
    """The error message for a piece that cannot be rendered, or None."""
    if kind == "placeholder_literal":
        return _quoted_placeholder_message(text, "literal")
    if kind == "placeholder_identifier":
        return _quoted_placeholder_message(text, "identifier")
    if kind == "parameter":
        return (
            f"the query contains the SQL parameter {text!r}; in task_type_version 1 values "
            "are passed only through placeholders {{ .inputs.<name> }} (an input of the "
            "task), so write the placeholder instead"
        )
    if kind == "near_miss":
        return (
            f"{text!r} in the query looks like a placeholder but is not one; placeholders "
            "are written {{ .inputs.<name> }} with <name> made of letters, digits and _"
        )
    return None


def check_template(
    query_template: str,
    input_names: Iterable[str],
    *,
    syntax: SqlSyntax = SQLITE,
    task_type_version: int = 1,
) -> None:
    """Every check of a template that needs no values, for a task being defined.

    Version 1: :func:`check_inputs`, then the placement rules of :func:`render_parameterized`
    (no placeholder inside a string literal or quoted identifier, no look-alike placeholder,
    no SQL parameter written in the template). Version 0: :func:`check_inputs` on the
    whitespace-collapsed template, as flytekit checks it. Raises :class:`ValueError`.
    """
    if task_type_version == 0:
        check_inputs(collapse_whitespace(query_template), input_names)
        return
    check_inputs(query_template, input_names)
    for kind, text, _ in _scan(query_template, syntax):
        problem = _problem(kind, text)
        if problem is not None:
            raise ValueError(problem)


_WORD = re.compile(r"[A-Za-z_]+")


def first_keyword(sql: str, syntax: SqlSyntax = STANDARD) -> str:
    """The statement's first keyword in lower case (``select``, ``with``, ``insert``...),
    skipping whitespace, comments and opening parentheses; ``""`` when there is none."""
    for kind, text, _ in _scan(sql, syntax):
        if kind == _COMMENT:
            continue
        if kind != _CODE:
            return ""
        stripped = text.lstrip(" \t\r\n\f\v(")
        if not stripped:
            continue
        m = _WORD.match(stripped)
        return m.group(0).lower() if m else ""
    return ""


def statement_count(sql: str, syntax: SqlSyntax = STANDARD) -> int:
    """How many statements ``sql`` holds: ``;`` in SQL code separates them; a trailing ``;``
    and empty statements (only whitespace and comments) do not count."""
    count = 0
    current = False  # the current statement has code
    for kind, text, _ in _scan(sql, syntax):
        if kind == _COMMENT or kind == "placeholder_comment":
            continue
        if kind != _CODE:
            current = True
            continue
        for part_no, part in enumerate(text.split(";")):
            if part_no > 0:
                count += current
                current = False
            if part.strip():
                current = True
    return count + current


# --- version 1: bound parameters ----------------------------------------------------------------


def render_parameterized(
    query_template: str,
    values: Mapping[str, Any],
    *,
    syntax: SqlSyntax = SQLITE,
    paramstyle: str = "named",
    convert: Callable[..., Any] | None = None,
) -> tuple[str, dict[str, Any] | list[Any]]:
    """Render for ``task_type_version`` 1: placeholders become SQL parameters.

    Returns ``(sql, params)``: ``sql`` is ``query_template`` with each placeholder in SQL code
    replaced by a parameter marker of the DB-API ``paramstyle`` and every other character
    unchanged (no whitespace collapsing); ``params`` holds the values, each converted by
    ``convert(value, name=...)`` when given, ready for ``cursor.execute(sql, params)``:

    ================== ===================== =====================================
    paramstyle         marker                params
    ================== ===================== =====================================
    ``named``          ``:p_<name>``         ``{"p_<name>": value}``
    ``pyformat``       ``%(p_<name>)s``      ``{"p_<name>": value}``
    ``qmark``          ``?``                 ``[value, ...]`` (one per occurrence)
    ``format``         ``%s``                ``[value, ...]``
    ``numeric``        ``:1``                ``[value, ...]``
    ``numeric_dollar`` ``$1``                ``[value, ...]``
    ================== ===================== =====================================

    With ``pyformat`` and ``format`` every ``%`` of the template outside a placeholder is
    doubled, as those drivers require; the driver undoes it, so the database receives the
    text as written. Only placeholders that are SQL code are bound; one inside a comment is
    left as it is (see the module docstring).

    Raises :class:`ValueError` for a placeholder without a value, a value without a
    placeholder, a placeholder inside a string literal or quoted identifier, something that
    looks like a placeholder but is not one, or a SQL parameter written in the template
    itself (values come only from placeholders); ``convert`` may raise :class:`TypeError` or
    :class:`ValueError` for a value it cannot bind.
    """
    if paramstyle not in PARAM_STYLES:
        raise ValueError(f"unknown DB-API paramstyle {paramstyle!r}; known: {PARAM_STYLES}")
    check_inputs(query_template, values.keys())
    percent = paramstyle in ("pyformat", "format")
    positional = paramstyle not in ("named", "pyformat")
    out: list[str] = []
    named: dict[str, Any] = {}
    listed: list[Any] = []
    converted: dict[str, Any] = {}
    for kind, text, match in _scan(query_template, syntax):
        if kind == "placeholder_code":
            assert match is not None
            name = match.group(2)
            key = PARAM_PREFIX + name
            if key not in converted:
                value = values[name]
                converted[key] = convert(value, name=name) if convert is not None else value
            if positional:
                listed.append(converted[key])
                marker = {
                    "qmark": "?",
                    "format": "%s",
                    "numeric": f":{len(listed)}",
                    "numeric_dollar": f"${len(listed)}",
                }[paramstyle]
            else:
                named[key] = converted[key]
                marker = f"%({key})s" if percent else f":{key}"
            out.append(marker)
            continue
        problem = _problem(kind, text)
        if problem is not None:
            raise ValueError(problem)
        # code, comments, literals, placeholders in comments: copied unchanged
        out.append(text.replace("%", "%%") if percent else text)
    return "".join(out), (listed if positional else named)


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
