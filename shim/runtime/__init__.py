"""The container side: what runs inside the image (``shim execute``).

Never imports ``shim.task`` or ``shim.local``: the container needs only what runs there.
Exports load lazily, so parsing ``shim execute``'s arguments (and ``--help``) does not pay
for protobuf.
"""

from __future__ import annotations

from shim._lazy import lazy_exports

_EXPORTS = {
    "ExecutionContext": "shim.runtime.context",
    "current_context": "shim.runtime.context",
    "ShimTaskExecutor": "shim.runtime.executor",
    "TaskTemplateModel": "shim.runtime.template",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("shim.runtime", _EXPORTS, globals())
