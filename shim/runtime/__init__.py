"""The container side: what runs inside the image (``shim execute``).

Never imports ``shim.task`` or ``shim.local``: the container needs only what runs there.
Exports load lazily, so parsing ``shim execute``'s arguments (and ``--help``) does not pay
for protobuf.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ExecutionContext": "shim.runtime.context",
    "current_context": "shim.runtime.context",
    "ShimTaskExecutor": "shim.runtime.executor",
    "TaskTemplateModel": "shim.runtime.template",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shim.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
