"""Local runners: in-process, subprocess, or inside the task's container image."""

from shim.local.outputs import Outputs
from shim.local.runcontext import RunContext, run, with_runcontext
from shim.local.runner import RUNNERS, run_task
from shim.local.runs import RunRecord, RunStore

__all__ = [
    "RUNNERS",
    "Outputs",
    "RunContext",
    "RunRecord",
    "RunStore",
    "run",
    "run_task",
    "with_runcontext",
]
