"""shim.sql.template: the parts shared by the SQL executors beyond what tests/executors/sqlite3
checks with SQLite's syntax — PostgreSQL/MySQL lexing, DB-API paramstyles, definition-time
checks, first keyword, and that the shared module stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shim.sql import (
    MYSQL,
    POSTGRESQL,
    SQLITE,
    STANDARD,
    check_template,
    first_keyword,
    render_parameterized,
    statement_count,
    syntax_for,
    syntax_for_url,
)


def pg(tpl: str, values: dict, style: str = "pyformat") -> tuple[str, object]:
    return render_parameterized(tpl, values, syntax=POSTGRESQL, paramstyle=style)


# --- PostgreSQL syntax -------------------------------------------------------------------------


def test_pg_casts_jsonb_operators_and_slices_are_code() -> None:
    tpl = (
        "select {{ .inputs.a }}::int, doc ? 'k', arr[1:2], x @> y, 5 # 3 "
        "from t where id = {{ .inputs.a }}"
    )
    sql, params = pg(tpl, {"a": 1})
    assert sql == (
        "select %(p_a)s::int, doc ? 'k', arr[1:2], x @> y, 5 # 3 from t where id = %(p_a)s"
    )
    assert params == {"p_a": 1}


@pytest.mark.parametrize(
    "tpl",
    [
        "select $$ {{ .inputs.a }} $$",
        "select $tag$ it's {{ .inputs.a }} $tag$",
        "select E'\\' {{ .inputs.a }}'",
        "select e'{{ .inputs.a }}'",
    ],
)
def test_pg_placeholder_in_dollar_or_escape_string_is_refused(tpl: str) -> None:
    with pytest.raises(ValueError, match="inside a quoted SQL string"):
        pg(tpl, {"a": 1})
    with pytest.raises(ValueError, match="inside a quoted SQL string"):
        check_template(tpl, ["a"], syntax=POSTGRESQL)


def test_pg_strings_and_nested_comments_end_where_postgres_ends_them() -> None:
    # an escape string's \' does not end it; a dollar string holds quotes; a nested comment
    # ends at its second */; after each, the placeholder is code again
    tpl = (
        "select E'a\\'b', $q$ 'x' $q$, /* a /* b */ {{ .inputs.c }} */ {{ .inputs.a }}, "
        "'it''s', $$$$, {{ .inputs.a }}"
    )
    sql, params = pg(tpl, {"a": 1, "c": 2})
    assert sql.count("%(p_a)s") == 2 and "{{ .inputs.c }}" in sql
    assert params == {"p_a": 1}  # c is only in a comment: used but not bound


def test_pg_dollar_in_identifier_is_not_a_quote_or_parameter() -> None:
    sql, _ = pg("select a$b$, {{ .inputs.x }}", {"x": 1})
    assert sql == "select a$b$, %(p_x)s"


@pytest.mark.parametrize("tpl", ["select $1", "select * from t where a = $2"])
def test_pg_positional_parameter_in_template_is_refused(tpl: str) -> None:
    with pytest.raises(ValueError, match="contains the SQL parameter"):
        pg(tpl, {})


def test_percent_is_doubled_for_pyformat_and_format_only() -> None:
    tpl = "select '100%', a % 2 from t where b like '%' || {{ .inputs.p }} || '%'"
    sql, _ = pg(tpl, {"p": "x"}, "pyformat")
    assert sql == "select '100%%', a %% 2 from t where b like '%%' || %(p_p)s || '%%'"
    sql, params = pg(tpl, {"p": "x"}, "format")
    assert sql == "select '100%%', a %% 2 from t where b like '%%' || %s || '%%'"
    assert params == ["x"]
    sql, _ = pg(tpl, {"p": "x"}, "named")
    assert "'100%'" in sql and ":p_p" in sql


@pytest.mark.parametrize(
    "style, sql, params",
    [
        ("named", "select :p_a, :p_b, :p_a", {"p_a": 1, "p_b": 2}),
        ("pyformat", "select %(p_a)s, %(p_b)s, %(p_a)s", {"p_a": 1, "p_b": 2}),
        ("qmark", "select ?, ?, ?", [1, 2, 1]),
        ("format", "select %s, %s, %s", [1, 2, 1]),
        ("numeric", "select :1, :2, :3", [1, 2, 1]),
        ("numeric_dollar", "select $1, $2, $3", [1, 2, 1]),
    ],
)
def test_every_paramstyle(style: str, sql: str, params: object) -> None:
    tpl = "select {{ .inputs.a }}, {{ .inputs.b }}, {{ .inputs.a }}"
    assert render_parameterized(tpl, {"a": 1, "b": 2}, syntax=STANDARD, paramstyle=style) == (
        sql,
        params,
    )


def test_unknown_paramstyle() -> None:
    with pytest.raises(ValueError, match="paramstyle"):
        render_parameterized("select 1", {}, paramstyle="dollar")


def test_convert_is_called_once_per_input() -> None:
    calls = []

    def convert(value: object, *, name: str) -> object:
        calls.append(name)
        return f"<{value}>"

    _, params = render_parameterized(
        "select {{ .inputs.a }}, {{ .inputs.a }}", {"a": 1}, paramstyle="qmark", convert=convert
    )
    assert params == ["<1>", "<1>"] and calls == ["a"]


# --- MySQL syntax ------------------------------------------------------------------------------


def test_mysql_backslash_escapes_double_quoted_strings_and_hash_comments() -> None:
    tpl = "select 'a\\'b', \"{{ .inputs.x }}\" # {{ .inputs.y }}\n, {{ .inputs.y }}"
    with pytest.raises(ValueError, match="inside a quoted SQL string"):
        render_parameterized(tpl, {"x": 1, "y": 2}, syntax=MYSQL, paramstyle="format")
    sql, params = render_parameterized(
        "select 'a\\'b', `c` # {{ .inputs.y }}\n, {{ .inputs.y }}",
        {"y": 2},
        syntax=MYSQL,
        paramstyle="format",
    )
    assert sql == "select 'a\\'b', `c` # {{ .inputs.y }}\n, %s" and params == [2]


# --- definition-time checks ----------------------------------------------------------------------


def test_check_template_version_1_runs_every_check_that_needs_no_values() -> None:
    check_template("select {{ .inputs.a }}", ["a"], syntax=POSTGRESQL)
    with pytest.raises(ValueError, match="has no input named 'b'"):
        check_template("select {{ .inputs.b }}", ["a"], syntax=POSTGRESQL)
    with pytest.raises(ValueError, match="looks like a placeholder"):
        check_template("select {{ .input.a }}, {{ .inputs.a }}", ["a"], syntax=POSTGRESQL)
    with pytest.raises(ValueError, match="quoted identifier"):
        check_template('select "{{ .inputs.a }}"', ["a"], syntax=SQLITE)


def test_check_template_version_0_allows_flytekit_quoting() -> None:
    # flytekit's habit: its textual substitution needs the quotes, so version 0 keeps them
    check_template("select * from t where n = '{{ .inputs.a }}'", ["a"], task_type_version=0)
    with pytest.raises(ValueError, match="not used"):
        check_template("select 1", ["a"], task_type_version=0)


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql, word",
    [
        ("SELECT 1", "select"),
        ("  -- c\n /* x /* y */ */ ((VALUES (1)))", "values"),
        ("with a as (select 1) select * from a", "with"),
        ("Insert into t values (1)", "insert"),
        ("'x'", ""),
        ("", ""),
        ("-- only a comment", ""),
    ],
)
def test_first_keyword(sql: str, word: str) -> None:
    assert first_keyword(sql, POSTGRESQL) == word


@pytest.mark.parametrize(
    "url, syntax",
    [
        ("postgresql+psycopg://u@h/db", POSTGRESQL),
        ("postgresql://u@h/db", POSTGRESQL),
        ("sqlite:///x.db", SQLITE),
        ("mysql+pymysql://u@h/db", MYSQL),
        ("mariadb://u@h/db", MYSQL),
        ("mssql+pyodbc://u@h/db", STANDARD),
        ("not a url", STANDARD),
    ],
)
def test_syntax_for_url(url: str, syntax: object) -> None:
    assert syntax_for_url(url) is syntax
    assert syntax_for("POSTGRESQL") is POSTGRESQL


def test_shared_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, shim.sql; "
        "heavy = [m for m in ('pyarrow', 'sqlalchemy', 'pandas', 'psycopg', 'shim.task', "
        "'shim.runtime.entrypoint', 'shim.types') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "sql, n",
    [
        ("SELECT 1", 1),
        ("SELECT 1;", 1),
        ("SELECT 1; -- done\n", 1),
        ("SELECT ';'; /* ; */", 1),
        ("SELECT $$;$$", 1),
        ("SELECT 1; SELECT 2", 2),
        ("SELECT 1;; ;DELETE FROM t", 2),
        ("", 0),
    ],
)
def test_statement_count(sql: str, n: int) -> None:
    assert statement_count(sql, POSTGRESQL) == n
