"""``shim package`` without flytekit: member names, images, reproducibility, errors.

(The comparison with ``pyflyte package`` itself is in tests/interop/test_package.py.)
"""

from __future__ import annotations

import tarfile
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from shim.commands import cli
from shim.package import (
    ImageMap,
    PackageError,
    find_tasks,
    index_width,
    load_modules,
    member_name,
    package,
    read_package,
    repository_name,
)

MODULE = """
from shim import Documentation
from shim_sqlite3 import SQLite3Config, SQLite3Task

first = SQLite3Task(
    name="{pkg}.tasks.first",
    query_template="SELECT * FROM t LIMIT {{{{ .inputs.n }}}}",
    inputs={{"n": int}},
    task_config=SQLite3Config(uri="s3://b/db.sqlite"),
    docs=Documentation(short_description="the first rows", long_description="All of them."),
)
second = SQLite3Task(
    name="{pkg}.tasks.second",
    query_template="SELECT count(*) FROM t",
    task_config=SQLite3Config(uri="s3://b/db.sqlite"),
    container_image="ghcr.io/me/other:2",
)
alias = first
"""


@pytest.fixture
def source(tmp_path: Path, request) -> tuple[Path, str]:
    """A package with two tasks, named uniquely per test (modules are cached by name)."""
    pkg = f"pkg_{request.node.name.replace('[', '_').replace(']', '_').replace('-', '_')}"
    root = tmp_path / "src"
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "tasks.py").write_text(textwrap.dedent(MODULE.format(pkg=pkg)))
    return root, pkg


def test_member_names_follow_pyflyte():
    assert [index_width(n) for n in (1, 9, 10, 11, 100, 101)] == [1, 1, 1, 2, 2, 3]
    assert member_name(0, 1, "a.b") == "0_a.b_1.pb"
    assert member_name(3, 11, "x") == "03_x_1.pb"


def test_repository_name():
    assert repository_name("shimkit-sqlite3:0.1.0") == "shimkit-sqlite3"
    assert repository_name("ghcr.io/me/shimkit-sqlite3:1") == "shimkit-sqlite3"
    assert repository_name("localhost:5000/x@sha256:abc") == "x"


def test_image_map():
    m = ImageMap.parse(["reg/default:1", "other=reg/o:2"])
    assert m.image_for("ghcr.io/me/other:2") == "reg/o:2"
    assert m.image_for("shimkit-sqlite3:0.1.0") == "reg/default:1"
    assert ImageMap.parse([]).image_for("x:1") is None
    with pytest.raises(PackageError, match="more than one"):
        ImageMap.parse(["a:1", "b:2"])
    with pytest.raises(PackageError, match="unique"):
        ImageMap.parse(["n=a:1", "n=b:2"])
    with pytest.raises(PackageError, match="NAME=URI"):
        ImageMap.parse(["=a:1"])


def test_package_tasks_once_in_definition_order(source, tmp_path):
    root, pkg = source
    out = tmp_path / "p.tgz"
    members = package([pkg], out, source=root, version="v1", images=["other=reg/other:9"])
    assert [m.member for m in members] == [
        f"0_{pkg}.tasks.first_1.pb",
        f"1_{pkg}.tasks.second_1.pb",
    ]
    specs = dict(read_package(out))
    first = specs[f"0_{pkg}.tasks.first_1.pb"]
    second = specs[f"1_{pkg}.tasks.second_1.pb"]
    assert first.template.id.version == "v1" and first.template.id.project == ""
    assert first.template.container.image.startswith("shimkit-sqlite3:")
    assert second.template.container.image == "reg/other:9"
    assert first.description.short_description == "the first rows"
    assert first.description.long_description.value == "All of them."
    assert not second.HasField("description")


def test_archive_is_reproducible(source, tmp_path):
    root, pkg = source
    a, b = tmp_path / "a.tgz", tmp_path / "b.tgz"
    package([pkg], a, source=root)
    package([pkg], b, source=root)
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a, "r:gz") as tar:
        assert all(i.isfile() and i.mtime == 0 and i.mode == 0o644 for i in tar.getmembers())


def test_existing_output_needs_force(source, tmp_path):
    root, pkg = source
    out = tmp_path / "p.tgz"
    out.write_text("keep me")
    with pytest.raises(PackageError, match="--force"):
        package([pkg], out, source=root)
    assert out.read_text() == "keep me"
    package([pkg], out, source=root, force=True)
    assert len(read_package(out)) == 2


def test_file_target(source, tmp_path):
    root, pkg = source
    members = package([str(root / pkg / "tasks.py")], tmp_path / "p.tgz")
    assert len(members) == 2


def test_duplicate_names_and_no_tasks(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (root / "dup_mod.py").write_text(
        textwrap.dedent("""
        from shim_sqlite3 import SQLite3Config, SQLite3Task
        a = SQLite3Task(name="same", query_template="SELECT 1", task_config=SQLite3Config(uri="/x"))
        b = SQLite3Task(name="same", query_template="SELECT 2", task_config=SQLite3Config(uri="/x"))
    """)
    )
    (root / "empty_mod.py").write_text("X = 1\n")
    with pytest.raises(PackageError, match="two tasks are named 'same'"):
        find_tasks(load_modules(["dup_mod"], root))
    with pytest.raises(PackageError, match="no shimkit tasks"):
        package(["empty_mod"], tmp_path / "p.tgz", source=root)
    with pytest.raises(PackageError, match="no module named 'no_such_mod'"):
        load_modules(["no_such_mod"], root)


def test_cli(source, tmp_path):
    root, pkg = source
    runner = CliRunner()
    out = tmp_path / "cli.tgz"
    res = runner.invoke(
        cli,
        [
            "package",
            "--pkgs",
            pkg,
            "-s",
            str(root),
            "-o",
            str(out),
            "-p",
            "proj",
            "-d",
            "dev",
            "-v",
            "v3",
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"0_{pkg}.tasks.first_1.pb" in res.output
    assert "Successfully packaged 2 tasks" in res.output
    assert {s.template.id.project for _, s in read_package(out)} == {"proj"}
    res = runner.invoke(cli, ["package", "--pkgs", pkg, "-s", str(root), "-o", str(out)])
    assert res.exit_code == 1 and "--force" in res.output
    res = runner.invoke(cli, ["package"])
    assert res.exit_code == 2
