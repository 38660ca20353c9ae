"""Query templates: placeholders, input checks, parameterized (v1) and textual (v0) rendering."""

from __future__ import annotations

import datetime as dt
import enum
import random
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shim_sqlite3.query import (
    PLACEHOLDER_RE,
    check_inputs,
    collapse_whitespace,
    placeholders,
    render_parameterized,
    render_textual,
    to_sql_value,
)

# --- placeholders -------------------------------------------------------------------------


def test_placeholders_order_dedup_and_case() -> None:
    tpl = "select {{ .inputs.b }}, {{.INPUTS.a}}, {{  .Inputs.b  }}, {{ .inputs.Limit }}"
    assert placeholders(tpl) == ["b", "a", "Limit"]


def test_placeholders_match_flytekit_pattern_quirks() -> None:
    # flytekit's pattern does not escape its dots: any character stands there
    assert placeholders("{{ xinputs_y }}") == ["y"]
    assert placeholders("{{inputs.x}}") == []  # the leading "." must be some character
    assert placeholders("{{ .inputs.a.b }}") == []
    assert placeholders("{{ .inputs.a-b }}") == []
    assert placeholders("{{\n\t.inputs.x\n}}") == ["x"]
    assert placeholders("no placeholders") == []


def test_check_inputs_ok() -> None:
    check_inputs("select {{ .inputs.a }} + {{ .inputs.b }} + {{.inputs.a}}", ["a", "b"])
    check_inputs("select 1", [])


def test_check_inputs_missing_input_message() -> None:
    with pytest.raises(ValueError) as err:
        check_inputs("select {{ .inputs.x }} from t limit {{ .inputs.limit }}", ["limit"])
    assert str(err.value) == (
        "query placeholder {{ .inputs.x }} has no input named 'x'; inputs are: 'limit'"
    )


def test_check_inputs_unused_input_message() -> None:
    with pytest.raises(ValueError) as err:
        check_inputs("select 1", ["y"])
    assert "input 'y' is not used by the query" in str(err.value)
    assert "{{ .inputs.y }}" in str(err.value)


def test_check_inputs_reports_every_problem_and_case_hint() -> None:
    with pytest.raises(ValueError) as err:
        check_inputs("select {{ .inputs.Limit }}, {{ .inputs.z }}", ["limit"])
    msg = str(err.value)
    assert "no input named 'Limit'" in msg and "did you mean 'limit'" in msg
    assert "no input named 'z'" in msg
    assert "input 'limit' is not used" in msg


def test_check_inputs_no_inputs_listing() -> None:
    with pytest.raises(ValueError, match=r"inputs are: \(none\)"):
        check_inputs("select {{ .inputs.a }}", [])


# --- version 1: parameters ----------------------------------------------------------------


def test_render_parameterized_keeps_text_exact() -> None:
    tpl = (
        "select *\n  from t   -- the table {{ .inputs.a }}\n"
        "  where a = {{ .inputs.a }}\tand b = {{.inputs.b}} /* {{ .inputs.b }} */\n"
        "  and c = 'two  spaces' and d = {{ .inputs.a }};\n"
    )
    sql, params = render_parameterized(tpl, {"a": 1, "b": "x"})
    assert sql == (
        "select *\n  from t   -- the table {{ .inputs.a }}\n"
        "  where a = :p_a\tand b = :p_b /* {{ .inputs.b }} */\n"
        "  and c = 'two  spaces' and d = :p_a;\n"
    )
    assert params == {"p_a": 1, "p_b": "x"}


def test_render_parameterized_no_placeholders() -> None:
    assert render_parameterized("select 1", {}) == ("select 1", {})


def test_render_parameterized_checks_inputs() -> None:
    with pytest.raises(ValueError, match="has no input named 'x'"):
        render_parameterized("select {{ .inputs.x }}", {})
    with pytest.raises(ValueError, match="input 'y' is not used"):
        render_parameterized("select 1", {"y": 1})


def _run(sql: str, params: dict, setup: str = "") -> list[tuple]:
    con = sqlite3.connect(":memory:")
    if setup:
        con.executescript(setup)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_injection_is_a_harmless_value() -> None:
    setup = "create table t(a text); insert into t values ('x');"
    sql, params = render_parameterized(
        "select * from t where a = {{ .inputs.a }}", {"a": "1; DROP TABLE t"}
    )
    assert _run(sql, params, setup) == []
    sql, params = render_parameterized("select * from t where a = {{ .inputs.a }}", {"a": "x"})
    assert _run(sql, params, setup) == [("x",)]


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        (True, 1),
        (False, 0),
        (42, 42),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (1.5, 1.5),
        ("text", "text"),
        (b"\x00\xff", b"\x00\xff"),
        (bytearray(b"ab"), b"ab"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, 123456), "2024-01-02 03:04:05.123456"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2024-01-02 03:04:05"),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2024-01-02 01:04:05",
        ),
        (dt.date(2024, 1, 2), "2024-01-02"),
    ],
)
def test_to_sql_value(value: object, expected: object) -> None:
    got = to_sql_value(value)
    assert got == expected and type(got) is type(expected)


def test_to_sql_value_enum() -> None:
    class Color(enum.Enum):
        RED = "red"

    class Level(int, enum.Enum):
        HIGH = 3

    assert to_sql_value(Color.RED) == "red"
    assert to_sql_value(Level.HIGH) == 3 and type(to_sql_value(Level.HIGH)) is int


@pytest.mark.parametrize("value", [dt.timedelta(1), [1], {"a": 1}, object(), 1j])
def test_to_sql_value_unsupported_type(value: object) -> None:
    with pytest.raises(TypeError, match=r"input 'v'.*cannot be bound as a SQL parameter"):
        to_sql_value(value, name="v")


def test_to_sql_value_int_out_of_range() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        to_sql_value(2**63)


def test_datetime_compares_with_sqlite_timestamps() -> None:
    setup = (
        "create table e(ts text); "
        "insert into e values (datetime('2024-01-02 03:04:05')), ('2024-01-01 00:00:00');"
    )
    since = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    sql, params = render_parameterized(
        "select ts from e where ts >= {{ .inputs.since }}", {"since": since}
    )
    assert _run(sql, params, setup) == [("2024-01-02 03:04:05",)]


def test_all_value_types_round_trip_through_sqlite() -> None:
    values = {"i": 7, "f": 0.25, "s": "it's", "b": b"\x01", "n": None, "t": True}
    tpl = "select {{ .inputs.i }}, {{ .inputs.f }}, {{ .inputs.s }}, {{ .inputs.b }}, "
    tpl += "{{ .inputs.n }}, {{ .inputs.t }}"
    sql, params = render_parameterized(tpl, values)
    assert _run(sql, params) == [(7, 0.25, "it's", b"\x01", None, 1)]


def test_case_sensitive_names_are_distinct_parameters() -> None:
    sql, params = render_parameterized("select {{ .inputs.x }}, {{ .inputs.X }}", {"x": 1, "X": 2})
    assert sql == "select :p_x, :p_X" and params == {"p_x": 1, "p_X": 2}
    assert _run(sql, params) == [(1, 2)]


def test_unicode_names() -> None:
    sql, params = render_parameterized("select {{ .inputs.größe }}", {"größe": 3})
    assert _run(sql, params) == [(3,)]


@pytest.mark.parametrize(
    "tpl",
    [
        "select * from t where name = '{{ .inputs.name }}'",
        "select * from t where name like '%{{ .inputs.name }}%'",
        "select 'it''s {{ .inputs.name }}'",
    ],
)
def test_quoted_placeholder_is_rejected_with_advice(tpl: str) -> None:
    with pytest.raises(ValueError) as err:
        render_parameterized(tpl, {"name": "x"})
    msg = str(err.value)
    assert "inside a quoted SQL string" in msg
    assert "must not be quoted" in msg and "'%' || {{ .inputs.name }} || '%'" in msg


@pytest.mark.parametrize(
    "tpl",
    ['select "{{ .inputs.c }}" from t', "select `{{ .inputs.c }}`", "select [{{ .inputs.c }}]"],
)
def test_placeholder_in_quoted_identifier_is_rejected(tpl: str) -> None:
    with pytest.raises(ValueError, match="quoted identifier"):
        render_parameterized(tpl, {"c": "x"})


def test_quotes_are_lexed_correctly_around_placeholders() -> None:
    # escaped quotes, a quote inside a comment, brackets inside a string
    tpl = (
        "select 'a''b', \"c\"\"d\", '[x', {{ .inputs.v }} -- don't\n"
        "/* it's */ , {{ .inputs.w }}, x'00'"
    )
    sql, params = render_parameterized(tpl, {"v": 1, "w": 2})
    assert sql.count(":p_v") == 1 and sql.count(":p_w") == 1
    assert _run(sql, params) == [("a'b", 'c"d', "[x", 1, 2, b"\x00")]


@pytest.mark.parametrize("tpl", ["select ?", "select ?1", "select :x", "select @x", "select $x"])
def test_sql_parameters_in_template_are_rejected(tpl: str) -> None:
    with pytest.raises(ValueError, match="contains the SQL parameter"):
        render_parameterized(tpl, {})


def test_dollar_inside_identifier_is_not_a_parameter() -> None:
    sql, _ = render_parameterized("select 1 as a$b, '?', ':x' -- ? :y\n", {})
    assert _run(sql, {}) == [(1, "?", ":x")]


@pytest.mark.parametrize(
    "tpl", ["select {{ .input.x }}", "select {{inputs.x}}", "select {{ .inputs.a.b }}"]
)
def test_near_miss_placeholders_are_rejected(tpl: str) -> None:
    with pytest.raises(ValueError, match="looks like a placeholder"):
        render_parameterized(tpl, {})


def test_placeholder_adjacent_to_identifiers_and_symbols() -> None:
    sql, params = render_parameterized("select {{ .inputs.a }}+1,x{{ .inputs.a }}", {"a": 1})
    assert sql == "select :p_a+1,x:p_a"  # SQLite would reject the second; the text is exact
    sql, params = render_parameterized("select ({{ .inputs.a }})*2", {"a": 4})
    assert _run(sql, params) == [(8,)]


def test_scanner_finds_exactly_the_pattern_matches() -> None:
    rng = random.Random(1234)
    pieces = [
        "{{ .inputs.a }}",
        "{{.inputs.b}}",
        "'",
        '"',
        "--",
        "\n",
        "/*",
        "*/",
        "{",
        "}",
        "x",
        " ",
        "[",
        "]",
        "`",
        "{{ .inputs.a",
        "}}",
        ".inputs.",
        "{{",
    ]
    for _ in range(2000):
        tpl = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        names = placeholders(tpl)
        try:
            sql, params = render_parameterized(tpl, dict.fromkeys(names, 1))
        except ValueError:
            continue
        # every placeholder left in the text is one the scanner saw outside code
        remaining = {m.group(2) for m in PLACEHOLDER_RE.finditer(sql)}
        assert remaining <= set(names)
        assert set(params) <= {"p_" + n for n in names}


# --- version 0: flytekit's textual substitution --------------------------------------------


def test_render_textual_basics() -> None:
    tpl = "select *\n  from t\twhere a = {{ .inputs.a }}\n and b = '{{.inputs.b}}'  \n"
    assert render_textual(tpl, {"a": 3, "b": "x  y"}) == (
        "select * from t where a = 3 and b = 'x  y'"
    )


def test_render_textual_is_injectable_like_flytekit() -> None:
    assert render_textual("select {{ .inputs.a }}", {"a": "1; DROP TABLE t"}) == (
        "select 1; DROP TABLE t"
    )


def test_render_textual_checks_inputs() -> None:
    with pytest.raises(ValueError):
        render_textual("select {{ .inputs.a }}", {})
    with pytest.raises(ValueError):
        render_textual("select 1", {"a": 1})


@given(
    st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\xa0\u2003\u3000\x1cab'-")), max_size=40)
)
def test_collapse_whitespace_matches_flytekit_formula(text: str) -> None:
    import re

    flytekit_formula = re.sub(r"\s+", " ", text.replace("\n", " ").replace("\t", " ")).strip()
    assert collapse_whitespace(text) == flytekit_formula


# The byte-for-byte comparison of render_textual with flytekit's SQLTask runs in the interop
# suite, with its flytekit virtualenv: tests/interop/test_sqlite_textual.py.
