"""Tasks over the test executors."""

from __future__ import annotations

from typing import Any

from shim import PythonCustomizedContainerTask
from tests.support import executors as ex

IMAGE = "shimkit-test:dev"


def make_task(
    executor: type,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    task_config: Any = None,
    **kwargs: Any,
) -> PythonCustomizedContainerTask:
    return PythonCustomizedContainerTask(
        name=name or f"tests.{executor.__name__}",
        container_image=IMAGE,
        executor_type=executor,
        task_type="shim-test",
        task_config=task_config,
        inputs=inputs or {},
        outputs=outputs or {},
        **kwargs,
    )


def three_outputs_task() -> PythonCustomizedContainerTask:
    return make_task(ex.ThreeOutputsExecutor, outputs={"a": int, "b": float, "c": str})


def echo_task(py_type: Any = int) -> PythonCustomizedContainerTask:
    return make_task(
        ex.EchoExecutor,
        inputs={"x": py_type},
        outputs={"y": py_type},
        name=f"tests.echo_{getattr(py_type, '__name__', 'value')}",
    )
