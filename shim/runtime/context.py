"""What an executor can reach while it runs: scratch space, storage, raw prefix, secrets."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shim.runtime.secrets import Secrets


@dataclass
class ExecutionContext:
    """The context of one task execution (see :func:`current_context`)."""

    working_dir: Path
    raw_output_prefix: str
    output_prefix: str
    storage: Any
    transfer: Any
    checkpoint_path: str | None = None
    prev_checkpoint: str | None = None
    secrets: Secrets = field(default_factory=Secrets)
    #: what a function task's ``pre`` returned, for its body (empty otherwise)
    data: dict[str, Any] = field(default_factory=dict)


_current: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
    "shim_execution_context", default=None
)


def current_context() -> ExecutionContext:
    """The context of the execution in progress; raises RuntimeError outside one."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("current_context() is only available while a task executes")
    return ctx


def _set(ctx: ExecutionContext | None) -> contextvars.Token:
    return _current.set(ctx)


def _reset(token: contextvars.Token) -> None:
    _current.reset(token)
