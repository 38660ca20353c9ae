"""shimkit's textual SQL rendering (templates of ``task_type_version`` 0, i.e. flytekit's) is
byte for byte flytekit's ``SQLTask.get_query``: the same query text, the same ValueErrors.

~300 templates (fixed cases and random ones built from placeholder pieces, whitespace of every
kind, quotes and comments) are rendered by flytekit in its own virtualenv (the interop suite's
``fk`` fixture, so this runs in CI) and by ``shim_sqlite3.query.render_textual``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from shim_sqlite3.query import collapse_whitespace, placeholders, render_textual

from tests.interop.conftest import Flytekit

pytestmark = pytest.mark.interop


def _flytekit_cases() -> list[tuple[str, dict]]:
    cases: list[tuple[str, dict]] = [
        ("select * from t limit {{ .inputs.limit }}", {"limit": 3}),
        ("select  *\n from   t\n\twhere name = '{{.inputs.name}}'\n", {"name": "a  b\nc"}),
        (
            "select {{ .inputs.a }}, {{.INPUTS.a}}, {{ .Inputs.b }} -- c\n from t",
            {"a": 1.5, "b": True},
        ),
        ("  {{ .inputs.x }}{{ .inputs.x }}  ", {"x": "{{ .inputs.y }}", "y": "Z"}),
        ("select {{ .inputs.y }} , {{ .inputs.x }}", {"x": "{{ .inputs.y }}", "y": "Z"}),
        ("select '{{ .inputs.s }}'", {"s": "it's"}),
        ("select \u00a0{{ .inputs.a }}\u2003 x\r\n", {"a": -7}),
        ("{{ xinputs_q }} {{ .inputs.q}}", {"q": "v"}),
        ("select {{ .inputs.missing }}", {}),
        ("select 1", {"extra": 1}),
    ]
    rng = random.Random(99)
    pieces = [
        "{{ .inputs.a }}",
        "{{.inputs.b}}",
        "{{ .INPUTS.a}}",
        " ",
        "  ",
        "\n",
        "\t",
        "\u00a0",
        "x",
        "'",
        "--",
        "{{",
        "}}",
        ".inputs.",
        "select",
        "{{ .inputs.a",
        "\r\n",
    ]
    for _ in range(300):
        tpl = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 16)))
        values = {"a": rng.choice([1, "v a", 2.5, " {{ .inputs.b }} "]), "b": rng.choice([0, "w"])}
        used = set(placeholders(collapse_whitespace(tpl)))
        if rng.random() < 0.9:
            values = {k: v for k, v in values.items() if k in used}
        cases.append((tpl, values))
    return cases


def _ours(tpl: str, values: dict) -> list:
    try:
        return ["ok", render_textual(tpl, values)]
    except ValueError:
        return ["ValueError"]


def test_render_textual_matches_flytekit_byte_for_byte(fk: Flytekit, tmp_path: Path) -> None:
    cases = _flytekit_cases()
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    proc = fk.run("fk_sql_textual.py", tmp_path / "cases.json", tmp_path / "out.json")
    assert proc.returncode == 0, proc.stderr[-4000:]
    theirs = json.loads((tmp_path / "out.json").read_text())
    assert len(theirs) == len(cases)
    mismatches = [
        (tpl, values, want, _ours(tpl, values))
        for (tpl, values), want in zip(cases, theirs, strict=True)
        if _ours(tpl, values) != want
    ]
    assert not mismatches, mismatches[:5]
    assert sum(1 for t in theirs if t[0] == "ok") > 100  # the comparison is not vacuous
    assert sum(1 for t in theirs if t[0] == "ValueError") > 5  # nor are the rejections
