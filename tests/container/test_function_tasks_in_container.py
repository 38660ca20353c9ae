"""Function tasks in the base image: the local source mounted read-only, nested children run
in the parent's container, traces and errors come back like from any runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import shim
from shim import TaskFailedError
from shim.task.serialize import container_image
from tests.support import fn_tasks as t


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "runs")


def test_function_tasks_run_in_their_image(base_image, store):
    assert container_image(t.add) == base_image  # "auto": the base image of this version
    assert shim.run_task(t.add, {"a": 1, "b": 2}, runner="container", store=store) == 3
    assert shim.run_task(t.double, {"x": 21}, runner="container", store=store) == 42
    assert shim.run_task(t.environ, {"name": "FN_ENV"}, runner="container", store=store) == (
        "from-env"
    )


def test_nested_children_run_in_the_parents_container(base_image, store):
    assert shim.run_task(t.fan_out, {"n": 4}, runner="container", store=store) == [0, 2, 4, 6]
    assert shim.run_task(t.catches_child, {"message": "m"}, runner="container", store=store) == (
        "caught ChildFailed USER:ChildFailed"
    )
    # every child was staged inside the parent's stage directory, by the container
    children = Path(store).glob("*/raw/children/*/outputs/*.pb")
    assert sorted(p.name for p in children) == ["error.pb"] + ["outputs.pb"] * 4


def test_errors_and_traces_from_the_container(base_image, store):
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(t.fails, {"message": "in a box"}, runner="container", store=store)
    assert e.value.code == "USER:ChildFailed" and "in a box" in str(e.value)
    shim.run_task(t.traced, {"x": 2}, runner="container", store=store)
    (doc,) = [json.loads(p.read_text()) for p in Path(store).glob("*/outputs/trace.json")]
    assert doc["task"] == "fn.traced" and len(doc["spans"]) >= 6


def test_the_local_source_is_mounted_read_only(base_image, store):
    """The module's source root is mounted at the same path, read-only: the task imports its
    unreleased code and cannot change it."""
    assert (
        shim.with_runcontext(runner="container", store=store).run(t.writes_beside_its_source)
        == "EROFS"
    )
