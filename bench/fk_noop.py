"""flytekit side of the cold-start benchmark: a no-op pre-built task (runs in flytekit's venv)."""

from __future__ import annotations

from typing import Any

from flytekit import kwtypes
from flytekit.core.interface import Interface
from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
from flytekit.core.shim_task import ShimTaskExecutor


class NoopExecutor(ShimTaskExecutor):
    """Returns its input: no work beyond the entrypoint's own."""

    def execute_from_model(self, tt: Any, **kwargs: Any) -> Any:
        return kwargs["x"]


class NoopTask(PythonCustomizedContainerTask):
    def __init__(self) -> None:
        super().__init__(
            name="bench.noop",
            task_config=None,
            container_image="bench:noop",
            executor_type=NoopExecutor,
            task_type="bench-noop",
            interface=Interface(inputs=kwtypes(x=int), outputs=kwtypes(y=int)),
        )

    def get_custom(self, settings: Any) -> dict[str, Any]:
        return {}
