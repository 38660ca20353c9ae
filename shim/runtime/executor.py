"""The base class of every executor an image ships."""

from __future__ import annotations

from typing import Any, ClassVar

from shim.runtime.template import TaskTemplateModel


class ShimTaskExecutor:
    """Runs a pre-built task from its template. Subclass it and implement ``execute_from_model``.

    The executor reads everything from the template (``tt.custom``, ``tt.task_config``,
    ``tt.interface``, ``tt.config``) and its inputs; the task object does not exist at run time.

    Set ``config_type`` to a dataclass to have the template's ``custom`` decoded into it
    (available as ``tt.task_config``): integral numbers become ``int`` again where the field
    says ``int``, and a custom that does not fit is a user error before ``execute_from_model``
    is called.

    Return the outputs **by name**: a mapping ``{name: value}``, a ``NamedTuple``, or the value
    itself when the task has exactly one output. Raise :class:`shim.errors.RecoverableError`
    for failures a retry may fix; any other exception is a non-recoverable user error.
    """

    config_type: ClassVar[type | None] = None

    def execute_from_model(self, tt: TaskTemplateModel, **inputs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__qualname__} must implement execute_from_model(tt, **inputs)"
        )
