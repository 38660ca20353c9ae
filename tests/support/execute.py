"""Helpers to stage a task and run `shim execute` as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shim import idl
from shim.local.staging import Stage
from shim.storage import default_storage, join
from shim.testing import read_error_document, stage

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Staged:
    stage: Stage
    args: list[str]  # flags after the command

    @property
    def outputs(self) -> str:
        return self.stage.outputs


def stage_task(task: Any, inputs: dict[str, Any], base: str) -> Staged:
    """Write task.pb and inputs.pb under ``base`` and render the task's container args."""
    return Staged(Stage(base), stage(task, inputs, base))


def shim_execute(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``python -m shim execute ARGS`` in a fresh process with the repo importable."""
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join([str(REPO), full.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "shim", "execute", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_error(prefix: str) -> Any | None:
    """The parsed ContainerError under ``prefix`` or None."""
    return read_error_document(prefix)


def read_outputs(prefix: str) -> Any | None:
    storage = default_storage()
    url = join(prefix, "outputs.pb")
    if not storage.exists(url):
        return None
    lm = idl.LiteralMap()
    lm.ParseFromString(storage.get_bytes(url))
    return lm


def kind_name(err: Any) -> str:
    return idl.ContainerError.Kind.Name(err.kind)


def origin_name(err: Any) -> str:
    return idl.ErrorOrigin.Name(err.origin)
