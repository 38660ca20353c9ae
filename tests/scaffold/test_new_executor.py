"""``shim new executor``: the names it accepts, what it writes, and that the result passes its
own tests unchanged (in-process and subprocess here; in its image in tests/container)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from shim.commands import cli
from shim.scaffold import ScaffoldError, executor_values, new_executor
from tests.support.scaffold import generate, run_its_tests


def test_names_make_the_distribution_package_and_classes():
    v = executor_values("word-count")
    assert (v["dist"], v["package"], v["Class"], v["image"]) == (
        "word-count",
        "word_count",
        "WordCount",
        "word-count:0.1.0",
    )
    assert executor_values("greet", package="acme_greet")["package"] == "acme_greet"


@pytest.mark.parametrize(
    "name, package, needle",
    [
        ("Greet", None, "not a usable name"),
        ("9lives", None, "not a usable name"),
        ("a--b", None, "not a usable name"),
        ("json", None, "a module of Python"),
        ("shim", None, "a module of Python or of the tools"),
        ("greet", "Greet", "not a lower-case Python identifier"),
        ("greet", "class", "not a lower-case Python identifier"),
    ],
)
def test_unusable_names_are_refused(tmp_path, name, package, needle):
    with pytest.raises(ScaffoldError, match=needle):
        new_executor(name, tmp_path / "out", package=package)
    assert not (tmp_path / "out").exists()
    args = ["new", "executor", name, "--dir", str(tmp_path / "out")]
    r = CliRunner().invoke(cli, args + (["--package", package] if package else []))
    assert r.exit_code == 2
    assert r.stderr.startswith("shim new executor: error: ") and needle in r.stderr


def test_an_existing_directory_is_not_overwritten(tmp_path):
    (tmp_path / "greet").mkdir()
    (tmp_path / "greet" / "mine.txt").write_text("keep")
    with pytest.raises(ScaffoldError, match="already exists"):
        new_executor("greet", tmp_path / "greet")
    assert (tmp_path / "greet" / "mine.txt").read_text() == "keep"
    assert sorted(p.name for p in (tmp_path / "greet").iterdir()) == ["mine.txt"]


def test_what_it_writes(tmp_path):
    files = new_executor("word-count", tmp_path / "wc")
    rel = sorted(str(f.relative_to(tmp_path / "wc")) for f in files)
    assert rel == [
        ".dockerignore",
        ".gitignore",
        "Dockerfile",
        "README.md",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_executor.py",
        "word_count/__init__.py",
        "word_count/executor.py",
        "word_count/task.py",
    ]
    for f in files:
        assert "{{" not in f.read_text().replace("{{.", ""), f  # every marker filled
    pyproject = (tmp_path / "wc" / "pyproject.toml").read_text()
    assert 'word_count = "word_count.executor:WordCountExecutor"' in pyproject
    dockerfile = (tmp_path / "wc" / "Dockerfile").read_text()
    from shim.images import IMAGES

    assert f"ARG SHIMKIT_BASE={IMAGES['base'].tag}\nFROM ${{SHIMKIT_BASE}}\n" in dockerfile
    assert dockerfile.rstrip().endswith("USER 1000:1000")  # tasks never run as root


def test_generated_code_is_lint_clean(tmp_path):
    new_executor("word-count", tmp_path / "wc")
    ruff = [sys.executable, "-m", "ruff"]
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run(ruff + args, cwd=tmp_path / "wc", capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_generated_executor_passes_its_own_tests(tmp_path):
    """Installed in a fresh venv, its tests pass unchanged with the in-process and subprocess
    runners (every test ran: none skipped)."""
    g = generate(tmp_path, "word-count")
    out = run_its_tests(g, "--shim-runner", "inprocess", "--shim-runner", "subprocess")
    assert out.proc.returncode == 0, out.summary()
    assert out.results and set(out.results.values()) == {"passed"}, out.results
    ran = {k.rsplit("::", 1)[1] for k in out.results}
    assert {"test_greets[inprocess]", "test_greets[subprocess]"} <= ran
    # the entry point is installed with it
    proc = subprocess.run(
        [str(g.bin / "shim"), "executors"], capture_output=True, text=True, check=True
    )
    assert "word_count\tword_count.executor.WordCountExecutor" in proc.stdout
