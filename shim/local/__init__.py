"""Local runners: in-process, subprocess, or inside the task's container image."""

from shim.local.runner import RUNNERS, run_task

__all__ = ["RUNNERS", "run_task"]
