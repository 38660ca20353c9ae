"""shimkit side: the executors the benchmark's tasks run (imported by ``shim execute``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shim import DataFrame, File, ShimTaskExecutor


class NoopExecutor(ShimTaskExecutor):
    """Returns its input: no work beyond the entrypoint's own."""

    def execute_from_model(self, tt: Any, x: int) -> int:
        return x


@dataclass
class PathConfig:
    path: str


class BigFileExecutor(ShimTaskExecutor):
    """Returns the local file named in the template as a File output (uploaded by the
    entrypoint to the raw output prefix)."""

    config_type = PathConfig

    def execute_from_model(self, tt: Any) -> File:
        return File(tt.task_config.path)


class BigFrameExecutor(ShimTaskExecutor):
    """Returns the local parquet dataset named in the template as a DataFrame output."""

    config_type = PathConfig

    def execute_from_model(self, tt: Any) -> DataFrame:
        return DataFrame(tt.task_config.path)
