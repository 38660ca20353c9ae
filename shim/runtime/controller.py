"""The controller registry: how a task call reaches whatever runs tasks here.

A task object (``shim.task``) never imports the local runners (``shim.local``): calling a task
looks the controller up here, and the layer that runs tasks installs itself. This is the small
registry flyte-sdk calls its controller; it lives in the runtime so that a running task (in a
container, too) reaches it for nested calls.

- :func:`install` sets the controller of this process (returns the previous one).
- :func:`set_default` registers a zero-argument factory, called once on the first lookup when
  nothing was installed. ``shim/__init__.py`` registers shimkit's local controller this way,
  so the runners are imported only when a task is actually run.

A controller has two methods (duck typing, see :class:`Controller`):
``submit_sync(task, inputs, **options)`` runs ``task`` with bound ``inputs`` (a dict) and
returns its decoded outputs; ``async submit(task, inputs, **options)`` does the same from
async code without blocking the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol


class Controller(Protocol):
    """What runs tasks: locally (shim.local's controller) or wherever an installer decides."""

    def submit_sync(self, task: Any, inputs: dict[str, Any], **options: Any) -> Any: ...

    async def submit(self, task: Any, inputs: dict[str, Any], **options: Any) -> Any: ...


_lock = threading.Lock()
_controller: Controller | None = None
_default: Callable[[], Controller] | None = None


def install(controller: Controller | None) -> Controller | None:
    """Make ``controller`` the one every task call goes through; returns the previous one."""
    global _controller
    with _lock:
        previous, _controller = _controller, controller
    return previous


#: the name ``shim.extend`` exports :func:`install` under
def install_controller(controller: Controller | None) -> Controller | None:
    """Same as :func:`install`."""
    return install(controller)


def set_default(factory: Callable[[], Controller]) -> None:
    """Register the factory of the controller used when none was installed."""
    global _default
    _default = factory


def get_controller() -> Controller:
    """The installed controller (the default one is created on first use)."""
    global _controller
    controller = _controller
    if controller is not None:
        return controller
    with _lock:
        if _controller is None:
            if _default is None:
                from shim.errors import ShimError

                raise ShimError(
                    "no task controller is installed: import shim (or install one with "
                    "shim.runtime.controller.install) before calling a task",
                    code="NoController",
                )
            _controller = _default()
        return _controller
