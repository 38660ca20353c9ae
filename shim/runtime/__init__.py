"""The container side: what runs inside the image (``shim execute``).

Never imports ``shim.task`` or ``shim.local``: the container needs only what runs there.
"""

from shim.runtime.context import ExecutionContext, current_context
from shim.runtime.executor import ShimTaskExecutor
from shim.runtime.template import TaskTemplateModel

__all__ = ["ExecutionContext", "ShimTaskExecutor", "TaskTemplateModel", "current_context"]
