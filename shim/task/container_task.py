"""``PythonCustomizedContainerTask``: a task whose behaviour lives in its template and image."""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from shim.errors import TypeMismatchError
from shim.runtime.args import SHIM_RESOLVER
from shim.task.interface import NativeInterface
from shim.task.template import SerializationContext, TaskTemplate

T = TypeVar("T")


def executor_path(executor_type: type) -> str:
    """``module.Class`` of an executor class, as it goes into the container args."""
    if not isinstance(executor_type, type):
        raise ValueError(f"executor_type must be a class, got {executor_type!r}")
    if "<locals>" in executor_type.__qualname__ or executor_type.__module__ == "__main__":
        raise ValueError(
            f"executor {executor_type.__qualname__!r} must be importable by path inside the "
            "image: define it at module level in an installed module, not in __main__ or a function"
        )
    return f"{executor_type.__module__}.{executor_type.__qualname__}"


def check_task_config(task_name: str, config: Any) -> None:
    """A dataclass ``config`` whose fields hold values of their annotated types, checked by
    the type engine (the checks a task's inputs get), else :class:`TypeMismatchError` naming
    the field, the expected and the actual type. Fields whose annotation the engine does not
    support are not checked; neither is a config that is not a dataclass."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return
    from shim.types.engine import UnsupportedTypeError
    from shim.types.structs import field_types, to_jsonable

    cls = type(config).__name__
    types = field_types(type(config), resolvable_only=True)
    for field_name, py_type in types.items():
        try:
            to_jsonable(getattr(config, field_name), py_type, None, name=f"{cls}.{field_name}")
        except TypeMismatchError as e:
            e.args = (f"task {task_name!r}: task_config {e}",)
            raise e from None
        except UnsupportedTypeError:
            continue


class PythonCustomizedContainerTask(TaskTemplate, Generic[T]):
    """A pre-built container task: the image ships the executor, the template carries the rest.

    Subclass it, override :meth:`get_custom` to put the task's whole behaviour into the
    template's ``custom`` (JSON-able), and name the :class:`~shim.ShimTaskExecutor` subclass
    that runs it. At run time only the serialized template exists; the task object does not.
    """

    def __init__(
        self,
        name: str,
        container_image: str,
        executor_type: type,
        task_type: str,
        task_config: T | None = None,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        *,
        task_type_version: int = 0,
        **kwargs: Any,
    ) -> None:
        if not container_image:
            raise ValueError(f"task {name!r}: container_image is required")
        if not task_type:
            raise ValueError(f"task {name!r}: task_type is required")
        self._executor_type = executor_type
        self._executor_path = executor_path(executor_type)
        check_task_config(name, task_config)
        self._task_config = task_config
        super().__init__(
            name=name,
            interface=NativeInterface(dict(inputs or {}), dict(outputs or {})),
            task_type=task_type,
            task_type_version=task_type_version,
            image=container_image,
            **kwargs,
        )

    @property
    def task_config(self) -> T | None:
        return self._task_config

    @property
    def executor_type(self) -> type:
        return self._executor_type

    @property
    def container_image(self) -> str:
        return self.image

    def get_custom(self) -> dict[str, Any]:
        """The task's behaviour as a JSON-able dict (the template's ``custom``).

        The default is the fields of ``task_config`` when it is a dataclass.
        """
        cfg = self._task_config
        if cfg is None:
            return {}
        if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
            return dataclasses.asdict(cfg)
        if isinstance(cfg, dict):
            return dict(cfg)
        raise TypeError(
            f"{type(self).__name__}.get_custom(): task_config {type(cfg).__name__} is not a "
            "dataclass or dict; override get_custom() to serialize it"
        )

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        return self.get_custom()

    def container_args(self, sctx: SerializationContext) -> list[str]:
        """WIRE.md section 1, with shimkit's resolver and the checkpoint flags."""
        return entrypoint_args(SHIM_RESOLVER, [self._executor_path])


def entrypoint_args(resolver: str, loader_args: list[str]) -> list[str]:
    """The container args of a task run by ``shim execute`` (``pyflyte-execute``): the
    backend's variables, ``--resolver resolver``, then ``-- {{.taskTemplatePath}}`` and
    ``loader_args`` (what locates the code to run)."""
    return [
        "pyflyte-execute",
        "--inputs",
        "{{.input}}",
        "--output-prefix",
        "{{.outputPrefix}}",
        "--raw-output-data-prefix",
        "{{.rawOutputDataPrefix}}",
        "--checkpoint-path",
        "{{.checkpointOutputPrefix}}",
        "--prev-checkpoint",
        "{{.prevCheckpointPrefix}}",
        "--resolver",
        resolver,
        "--",
        "{{.taskTemplatePath}}",
        *loader_args,
    ]
