"""``shim package`` writes what ``pyflyte package`` writes: checked against flytekit's own.

The same SQLite3 task is defined twice, once with flytekit's SQLite3Task (packaged by
``pyflyte --pkgs ... package`` in the flytekit virtualenv) and once with shimkit's (packaged by
``shim package``). A flytekit process opens both archives as a registration tool does and
parses every member as ``flyteidl.admin.TaskSpec``; the structure and the parsed templates must
agree, except where shimkit deliberately differs (resolver, executor, checkpoint flags,
task_type_version, runtime flavor, the output's dataset type).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

QUERY = "SELECT * FROM tracks WHERE genre = {{ .inputs.genre }} LIMIT {{ .inputs.limit }}"
MEMBER = re.compile(r"^(\d+)_(.+)_1\.pb$")

FLYTEKIT_MODULE = f"""
from flytekit import kwtypes
from flytekit.extras.sqlite3.task import SQLite3Config, SQLite3Task

top_tracks = SQLite3Task(
    name="music.tasks.top_tracks",
    query_template={QUERY!r},
    inputs=kwtypes(genre=str, limit=int),
    task_config=SQLite3Config(uri="s3://bucket/chinook.db", compressed=False),
)
"""

SHIM_MODULE = f"""
from shim_sqlite3 import SQLite3Config, SQLite3Task

top_tracks = SQLite3Task(
    name="music.tasks.top_tracks",
    query_template={QUERY!r},
    inputs={{"genre": str, "limit": int}},
    task_config=SQLite3Config(uri="s3://bucket/chinook.db", compressed=False),
)
"""

EXTRA_SHIM_MODULE = """
from shim_sqlite3 import SQLite3Config, SQLite3Task

from music.tasks import top_tracks  # imported again: packaged once

count_tracks = SQLite3Task(
    name="music.more.count_tracks",
    query_template="SELECT count(*) AS n FROM tracks",
    task_config=SQLite3Config(uri="s3://bucket/chinook.db"),
)
"""


def write_package_source(root: Path, module: str, extra: str | None = None) -> None:
    pkg = root / "music"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text(textwrap.dedent(module))
    if extra:
        (pkg / "more.py").write_text(textwrap.dedent(extra))


def shim_package(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shim", "package", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def packages(fk, tmp_path_factory) -> dict:
    """Both packages, and what flytekit parsed from each."""
    fk_root = tmp_path_factory.mktemp("pyflyte-package")
    write_package_source(fk_root, FLYTEKIT_MODULE)
    proc = fk.command(
        "pyflyte",
        "--pkgs",
        "music",
        "package",
        "--image",
        "example.com/img:1",
        "-f",
        "-o",
        "fk.tgz",
        cwd=fk_root,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    shim_root = tmp_path_factory.mktemp("shim-package")
    write_package_source(shim_root, SHIM_MODULE)
    image = "shimkit-sqlite3=ghcr.io/example/shimkit-sqlite3:0.1.0"
    proc = shim_package(shim_root, "--pkgs", "music", "--image", image, "-o", "shim.tgz")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {
        "pyflyte": fk.json("fk_package.py", fk_root / "fk.tgz"),
        "shim": fk.json("fk_package.py", shim_root / "shim.tgz"),
        "paths": {"pyflyte": fk_root / "fk.tgz", "shim": shim_root / "shim.tgz"},
    }


def test_same_archive_structure(packages):
    layouts = {}
    for tool in ("pyflyte", "shim"):
        with tarfile.open(packages["paths"][tool], "r:gz") as tar:  # gzip'd tar, both
            infos = tar.getmembers()
        assert all(i.isfile() and "/" not in i.name for i in infos), tool  # flat, files only
        layouts[tool] = [i.name for i in infos]
    assert layouts["shim"] == layouts["pyflyte"] == ["0_music.tasks.top_tracks_1.pb"]


def test_members_are_task_specs(packages):
    for tool in ("pyflyte", "shim"):
        (member,) = packages[tool]["members"]
        assert MEMBER.match(member["name"]), member["name"]
        assert member["has_template"] and member["only_known_fields"], (tool, member)
        assert member["model_name"] == "music.tasks.top_tracks"


def test_same_parsed_template(packages):
    fk_t = packages["pyflyte"]["members"][0]["template"]
    sh_t = packages["shim"]["members"][0]["template"]
    for key in ("id", "type", "custom", "inputs", "config", "secrets"):
        assert sh_t[key] == fk_t[key], key
    # project/domain/version are left to the registration tool, as pyflyte leaves them
    assert sh_t["id"] == {
        "resource_type": 1,
        "project": "",
        "domain": "",
        "version": "",
        "name": "music.tasks.top_tracks",
    }
    assert fk_t["lost_in_roundtrip"] == sh_t["lost_in_roundtrip"] == []
    for key in ("retries", "discoverable", "runtime_type"):
        assert sh_t["metadata"][key] == fk_t["metadata"][key], key
    assert sh_t["container"]["command"] == fk_t["container"]["command"] == []
    assert sh_t["container"]["image"] == "ghcr.io/example/shimkit-sqlite3:0.1.0"


def test_container_args_differ_only_where_documented(packages):
    fk_args = packages["pyflyte"]["members"][0]["template"]["container"]["args"]
    sh_args = packages["shim"]["members"][0]["template"]["container"]["args"]

    def flags(args: list[str]) -> dict[str, str]:
        head = args[1 : args.index("--")]
        return dict(zip(head[::2], head[1::2], strict=True))

    assert sh_args[0] == fk_args[0] == "pyflyte-execute"
    fk_flags, sh_flags = flags(fk_args), flags(sh_args)
    for flag in ("--inputs", "--output-prefix", "--raw-output-data-prefix"):
        assert sh_flags[flag] == fk_flags[flag]
    assert fk_flags["--resolver"].startswith("flytekit.")
    assert sh_flags["--resolver"] == "shim.runtime.resolver.default_task_template_resolver"
    assert set(sh_flags) - set(fk_flags) == {"--checkpoint-path", "--prev-checkpoint"}
    assert sh_args[-2] == fk_args[-2] == "{{.taskTemplatePath}}"
    assert fk_args[-1] == "flytekit.extras.sqlite3.task.SQLite3TaskExecutor"
    assert sh_args[-1] == "shim_sqlite3.executor.SQLite3TaskExecutor"


def test_documented_differences(packages):
    fk_t = packages["pyflyte"]["members"][0]["template"]
    sh_t = packages["shim"]["members"][0]["template"]
    assert (fk_t["task_type_version"], sh_t["task_type_version"]) == (0, 1)  # bound parameters
    assert (fk_t["metadata"]["runtime_flavor"], sh_t["metadata"]["runtime_flavor"]) == (
        "python",
        "shimkit",
    )
    assert (fk_t["outputs"], sh_t["outputs"]) == (
        {"results": "FlyteSchema"},  # flytekit's legacy default output type
        {"results": "StructuredDataset"},
    )


def test_identity_options_and_several_modules(fk, tmp_path):
    """--project/--domain/--version are kept; a package walks every module, each task once."""
    write_package_source(tmp_path, SHIM_MODULE, EXTRA_SHIM_MODULE)
    proc = shim_package(
        tmp_path,
        "--pkgs",
        "music",
        "--project",
        "flytesnacks",
        "--domain",
        "staging",
        "--version",
        "v7",
        "-o",
        "out.tgz",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    parsed = fk.json("fk_package.py", tmp_path / "out.tgz")
    names = [m["name"] for m in parsed["members"]]
    # modules in walk order (music.more first), each module's names in definition order:
    # more.py imports top_tracks before it defines count_tracks
    assert names == ["0_music.tasks.top_tracks_1.pb", "1_music.more.count_tracks_1.pb"]
    for m in parsed["members"]:
        ident = m["template"]["id"]
        assert (ident["project"], ident["domain"], ident["version"]) == (
            "flytesnacks",
            "staging",
            "v7",
        )
        assert m["template"]["container"]["image"].startswith("shimkit-sqlite3:")
