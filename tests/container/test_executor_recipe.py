"""The README's recipe for shipping an executor works as written.

The executor and task code, the entry-point declaration and the Dockerfile are taken from
README.md's "Writing an executor and shipping an image" section (so the README cannot drift),
made into a tiny distribution in a temporary directory, built into an image FROM the base
image built from this tree, and run as a task through the container runner.
"""

from __future__ import annotations

import importlib
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shim.local.container import run_container

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]
README_IMAGE = "ghcr.io/me/greet:1"  # the image name the README's task declares


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def readme_recipe() -> dict[str, str]:
    """The files of the README's example distribution, as the README shows them."""
    section = _section((REPO / "README.md").read_text(), "## Writing an executor")
    (code,) = [b for b in _blocks(section, "python") if "# my_pkg/executor.py" in b]
    executor, task = code.split("# my_pkg/task.py", 1)
    (entry_points,) = [b for b in _blocks(section, "toml") if "shim.executors" in b]
    (dockerfile,) = _blocks(section, "dockerfile")
    return {
        "my_pkg/executor.py": executor,
        "my_pkg/task.py": "# my_pkg/task.py" + task,
        "entry_points": entry_points,
        "Dockerfile": dockerfile,
    }


def test_the_readme_shows_the_recipe() -> None:
    """What the image test below relies on: pip in the venv, as root, back to uid 1000."""
    recipe = readme_recipe()
    lines = [ln.strip() for ln in recipe["Dockerfile"].splitlines() if ln.strip()]
    assert lines[0].startswith("FROM shimkit-base:")
    assert lines[1] == "USER root"
    assert any(ln.startswith("RUN pip install") for ln in lines)
    assert lines[-1] == "USER 1000:1000"
    assert 'greet = "my_pkg.executor:GreetExecutor"' in recipe["entry_points"]
    assert f'container_image="{README_IMAGE}"' in recipe["my_pkg/task.py"]


def _write_distribution(root: Path, base_image: str, image: str) -> None:
    recipe = readme_recipe()
    (root / "my_pkg").mkdir(parents=True)
    (root / "my_pkg" / "__init__.py").write_text("")
    (root / "my_pkg" / "executor.py").write_text(recipe["my_pkg/executor.py"])
    # the only edit: the image's name, unique to this test on the shared engine
    (root / "my_pkg" / "task.py").write_text(recipe["my_pkg/task.py"].replace(README_IMAGE, image))
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "my-greet"\nversion = "1.0"\ndependencies = ["shimkit"]\n\n'
        '[tool.setuptools]\npackages = ["my_pkg"]\n\n' + recipe["entry_points"]
    )
    # the README's FROM names the base image of this version, which the fixture built
    dockerfile = recipe["Dockerfile"]
    assert dockerfile.startswith(f"FROM {base_image}\n"), (dockerfile.splitlines()[0], base_image)
    (root / "Dockerfile").write_text(dockerfile)


def _build(client: Any, context: Path, tag: str) -> None:
    log: list[str] = []
    error = None
    for chunk in client.api.build(
        path=str(context), tag=tag, rm=True, forcerm=True, pull=False, decode=True, timeout=1800
    ):
        log.extend((chunk.get("stream") or "").splitlines())
        if "error" in chunk or "errorDetail" in chunk:
            error = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error")
    if error:
        tail = "\n".join(log[-30:])
        pytest.fail(f"building the README's recipe failed: {error}\n{tail}", pytrace=False)


@pytest.fixture
def recipe_image(
    docker_client: Any, base_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    tag = f"localhost/shimkit-test-greet:{uuid.uuid4().hex[:12]}"
    dist = tmp_path / "my-executor"
    _write_distribution(dist, base_image, tag)
    _build(docker_client, dist, tag)
    monkeypatch.syspath_prepend(str(dist))  # the workflow user's side imports the task
    try:
        yield tag
    finally:
        for name in [m for m in sys.modules if m == "my_pkg" or m.startswith("my_pkg.")]:
            del sys.modules[name]
        docker_client.images.remove(tag, force=True)


def test_readme_recipe_builds_an_image_that_runs_the_task(
    docker_client: Any, recipe_image: str
) -> None:
    task_module = importlib.import_module("my_pkg.task")
    executor_module = importlib.import_module("my_pkg.executor")
    greet = task_module.GreetTask(
        name="examples.greet", config=executor_module.GreetConfig(greeting="Hello", times=2)
    )
    assert greet.image == recipe_image
    assert greet(name="World", runner="container") == "Hello, World! Hello, World!"

    # installed into shimkit's venv (not the OS python's), listed by `shim executors`, as uid 1000
    res = run_container(
        recipe_image,
        ["sh", "-c", "command -v pip; id -u; shim executors"],
        client=docker_client,
        timeout=120,
    )
    assert res.exit_code == 0, res.logs
    pip, uid, *listing = res.logs.splitlines()
    assert (pip, uid) == ("/opt/shim/bin/pip", "1000")
    assert any(
        "greet" in line and "my_pkg.executor" in line and "GreetExecutor" in line
        for line in listing
    ), listing
