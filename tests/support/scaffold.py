"""Generate an executor with ``shim new executor``, install it in a fresh venv and run ITS
tests (unchanged) with pytest; read the outcome from pytest's JUnit XML report."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tests.support.venv import overlay_venv, venv_env


@dataclass
class Generated:
    root: Path  # the generated distribution
    bin: Path  # the venv it is installed in


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess
    #: test id -> "passed" | "failed" | "error" | "skipped"
    results: dict[str, str]

    def summary(self) -> str:
        p = self.proc
        return f"exit {p.returncode}\n{p.stdout[-4000:]}\n{p.stderr[-2000:]}"


def generate(tmp_path: Path, name: str) -> Generated:
    bin_dir = overlay_venv(tmp_path / "venv")
    env = venv_env(bin_dir)
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["shim", "new", "executor", name], cwd=work, env=env, check=True, timeout=60)
    root = work / name
    pip = subprocess.run(
        ["pip", "install", "-q", "--disable-pip-version-check", "-e", f"{root}[test]"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    return Generated(root, bin_dir)


def run_its_tests(g: Generated, *args: str, env: dict[str, str] | None = None) -> Outcome:
    report = g.root.parent / f"report-{len(list(g.root.parent.glob('report-*')))}.xml"
    full = venv_env(g.bin, **(env or {}))
    proc = subprocess.run(
        ["pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *args],
        cwd=g.root,
        env=full,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    results: dict[str, str] = {}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            status = "passed"
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    status = {"failure": "failed"}.get(child.tag, child.tag)
            results[f"{case.get('classname')}::{case.get('name')}"] = status
    return Outcome(proc, results)


def forwarded(*names: str) -> dict[str, str]:
    return {n: os.environ[n] for n in names if n in os.environ}
