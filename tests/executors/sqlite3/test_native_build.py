"""The install step of shimkit-sqlite3 where the native reader cannot be compiled: without
``SHIM_SQLITE3_NATIVE=require`` it goes on without the extension and says why; with it
(``make install``, the image) it stops with what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "executors" / "sqlite3"


def build_ext(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("*.so", "build", "*.egg-info"))
    return subprocess.run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "build_ext",
            "--build-lib",
            str(tmp_path / "lib"),
            "--build-temp",
            str(tmp_path / "tmp"),
        ],
        cwd=src,
        capture_output=True,
        text=True,
        env={**os.environ, "CC": "false", **env},  # a compiler that always fails
        timeout=120,
    )


def built(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "lib").rglob("_native*.so")) if (tmp_path / "lib").exists() else []


def test_without_a_compiler_the_package_builds_without_the_reader(tmp_path: Path) -> None:
    proc = build_ext(tmp_path, SHIM_SQLITE3_NATIVE="")
    assert proc.returncode == 0, proc.stderr
    assert "the native reader (shim_sqlite3._native) could not be built" in proc.stderr
    assert "apt-get install gcc python3-dev libsqlite3-dev" in proc.stderr
    assert "installing without it" in proc.stderr
    assert built(tmp_path) == []


@pytest.mark.parametrize("value", ["require", "required"])
def test_required_build_fails_clearly(tmp_path: Path, value: str) -> None:
    proc = build_ext(tmp_path, SHIM_SQLITE3_NATIVE=value)
    assert proc.returncode != 0
    assert "the native reader (shim_sqlite3._native) could not be built" in proc.stderr
    assert "apt-get install gcc python3-dev libsqlite3-dev" in proc.stderr
    assert "SHIM_SQLITE3_NATIVE=require is set, so this is an error" in proc.stderr


def test_with_a_compiler_it_builds(tmp_path: Path) -> None:
    proc = build_ext(tmp_path, SHIM_SQLITE3_NATIVE="require", CC=os.environ.get("CC", "cc"))
    assert proc.returncode == 0, proc.stderr
    assert len(built(tmp_path)) == 1
