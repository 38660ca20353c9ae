"""Helpers to stage a task and run `shim execute` as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shim import idl
from shim.local.staging import Stage, render_args
from shim.storage import default_storage, join
from shim.task.serialize import to_bytes
from shim.task.template import SerializationContext

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
    from shim.types import TransferContext, python_to_literal_map

    storage = default_storage()
    stage = Stage(base)
    sctx = SerializationContext()
    storage.put_bytes(stage.template, to_bytes(task, sctx))
    scratch = Path(os.environ.get("TMPDIR", "/tmp"))
    ctx = TransferContext(storage=storage, raw_output_prefix=stage.input_data, scratch_dir=scratch)
    lm = python_to_literal_map(inputs, task.interface.inputs, ctx, what="input")
    storage.put_bytes(stage.inputs, idl.serialize(lm))
    args = render_args(task.container_args(sctx), stage.values())
    return Staged(stage, args[1:])


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
    storage = default_storage()
    try:
        names = [u for u in storage.list(prefix) if u.rsplit("/", 1)[-1].startswith("error")]
    except FileNotFoundError:
        return None
    if not names:
        return None
    doc = idl.ErrorDocument()
    doc.ParseFromString(storage.get_bytes(names[0]))
    return doc.error


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
