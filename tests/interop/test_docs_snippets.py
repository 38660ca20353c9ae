"""The flytekit snippets of docs/running-on-flyte.md run with flytekit and fit shimkit's tasks.

The Python code blocks are taken from the page itself (so the docs cannot drift): the ones
that import flytekit run in the flytekit virtualenv; the shimkit one (``workflows/tasks.py``)
runs here and is serialized as ``shim package`` would. Every flytekit ``reference_task`` must
name a task the shimkit snippet defines, with the same input and output names and compatible
types (as Flyte's compiler checks them: equal simple types; a dataframe of any format and
columns fits a dataframe) — a ``-> pd.DataFrame`` output, which flytekit names ``o0``, fails.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from shim.task.serialize import to_idl
from shim.task.template import SerializationContext, TaskTemplate
from tests.interop.conftest import Flytekit

pytestmark = pytest.mark.interop

DOC = Path(__file__).resolve().parents[2] / "docs" / "running-on-flyte.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def _is_flytekit(code: str) -> bool:
    return bool(re.search(r"^\s*(from|import) flytekit", code, flags=re.M))


def compatible(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether a value of LiteralType ``ours`` (MessageToDict form) fits ``theirs``."""
    keys = {k for k in (*ours, *theirs) if k not in ("metadata", "annotation", "structure")}
    if "structuredDatasetType" in keys:
        a, b = ours.get("structuredDatasetType"), theirs.get("structuredDatasetType")
        if a is None or b is None:
            return False
        formats = {a.get("format", ""), b.get("format", "")} - {""}
        columns = [c for c in (a.get("columns"), b.get("columns")) if c]
        return len(formats) <= 1 and (len(columns) < 2 or columns[0] == columns[1])
    return {k: ours.get(k) for k in keys} == {k: theirs.get(k) for k in keys}


def interface_problems(ours: dict, theirs: dict) -> list[str]:
    problems = []
    for side in ("inputs", "outputs"):
        a = (ours.get(side) or {}).get("variables") or {}
        b = (theirs.get(side) or {}).get("variables") or {}
        if set(a) != set(b):
            problems.append(f"{side}: shimkit's task has {sorted(a)}, the snippet {sorted(b)}")
            continue
        for name in a:
            if not compatible(a[name]["type"], b[name]["type"]):
                problems.append(f"{side} {name!r}: {a[name]['type']} vs {b[name]['type']}")
    return problems


@pytest.fixture(scope="module")
def snippets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    blocks = python_blocks(DOC.read_text())
    d = tmp_path_factory.mktemp("doc-snippets")
    out: dict[str, list[Path]] = {"flytekit": [], "shimkit": []}
    for i, code in enumerate(blocks):
        side = "flytekit" if _is_flytekit(code) else "shimkit"
        path = d / f"snippet_{i}.py"
        path.write_text(code)
        out[side].append(path)
    return out


def test_the_page_has_both_kinds_of_snippets(snippets: dict[str, list[Path]]) -> None:
    assert len(snippets["flytekit"]) >= 2 and len(snippets["shimkit"]) >= 1


def test_reference_tasks_match_the_templates_shimkit_writes(
    fk: Flytekit, snippets: dict[str, list[Path]]
) -> None:
    found = fk.json("fk_doc_snippets.py", *snippets["flytekit"])
    refs = [o for o in found if o["kind"] == "reference_task"]
    assert refs, f"no reference_task in the page's flytekit snippets: {found}"
    assert any(o["kind"] == "workflow" for o in found)  # the workflow compiled around it

    ours: dict[str, TaskTemplate] = {}
    for path in snippets["shimkit"]:
        for obj in runpy.run_path(str(path), run_name="snippet").values():
            if isinstance(obj, TaskTemplate):
                ours[obj.name] = obj
    for ref in refs:
        project, domain, name, version = ref["id"]
        assert name in ours, f"reference_task {name!r} names no task of the shimkit snippet"
        sctx = SerializationContext(project=project, domain=domain, version=version)
        template = json_format.MessageToDict(to_idl(ours[name], sctx).interface)
        problems = interface_problems(template, ref["interface"])
        assert not problems, f"reference_task {ref['var']} ({name}): " + "; ".join(problems)


def test_flytekit_sqlite3_task_snippet_points_at_shimkits_image(
    fk: Flytekit, snippets: dict[str, list[Path]]
) -> None:
    found = fk.json("fk_doc_snippets.py", *snippets["flytekit"])
    tasks = [o for o in found if o["kind"] == "task" and o["type"] == "sqlite"]
    assert tasks, found
    for task in tasks:
        assert re.fullmatch(r"[\w.\-/:]*/shimkit-sqlite3:[\w.\-]+", task["image"]), task
        assert set(task["interface"]["outputs"]["variables"]) == {"results"}


def test_a_dataframe_output_named_o0_is_caught() -> None:
    """The mistake the page once made: ``-> pd.DataFrame`` is output ``o0`` to flytekit."""
    sd = {"structuredDatasetType": {"format": "parquet"}}
    ours = {"outputs": {"variables": {"results": {"type": sd}}}}
    assert interface_problems(ours, {"outputs": {"variables": {"o0": {"type": sd}}}})
    assert not interface_problems(
        ours, {"outputs": {"variables": {"results": {"type": {"structuredDatasetType": {}}}}}}
    )
    assert interface_problems(
        ours, {"outputs": {"variables": {"results": {"type": {"simple": "STRING"}}}}}
    )
