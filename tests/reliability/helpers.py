"""Helpers for the reliability tests: start ``shim execute`` without waiting, check prefixes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shim import idl
from tests.support.execute import REPO, kind_name, origin_name, read_error, read_outputs
from tests.support.tasks import make_task

__all__ = [
    "classification",
    "make_task",
    "read_error",
    "read_outputs",
    "spawn_execute",
    "wait_for",
]


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join([str(REPO), full.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    full.update(env or {})
    return full


def spawn_execute(
    args: list[str], env: dict[str, str] | None = None, *, supervise: bool = False, **kw: Any
) -> subprocess.Popen:
    """Start ``python -m shim execute [--supervise] ARGS`` and return at once."""
    flag = ["--supervise"] if supervise else ["--no-supervise"]
    return subprocess.Popen(
        [sys.executable, "-m", "shim", "execute", *flag, *args],
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def run_execute(
    args: list[str],
    env: dict[str, str] | None = None,
    *,
    supervise: bool = False,
    timeout: float = 60,
) -> subprocess.CompletedProcess:
    flag = ["--supervise"] if supervise else ["--no-supervise"]
    return subprocess.run(
        [sys.executable, "-m", "shim", "execute", *flag, *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(predicate: Any, timeout: float, interval: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def classification(prefix: str) -> tuple[str, str, str]:
    err = read_error(prefix)
    assert err is not None, f"no error document under {prefix}"
    return err.code, kind_name(err), origin_name(err)


def error_message(prefix: str) -> str:
    err = read_error(prefix)
    assert err is not None, f"no error document under {prefix}"
    return err.message


def files_under(path: str | Path) -> list[str]:
    root = Path(path)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def parse_outputs(data: bytes) -> Any:
    lm = idl.LiteralMap()
    lm.ParseFromString(data)
    return lm
