"""The ``shim`` command line.

``shim execute`` is the container entrypoint and is dispatched before click is imported, so
its start-up pays only for what the task needs (:func:`shim.runtime.main.execute_main`,
re-exported here). Every other command is a click command.
"""

from __future__ import annotations

import sys
from typing import Any

from shim.runtime.main import execute_main

__all__ = ["execute_main", "main"]


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point of ``shim``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["execute"]:
        sys.exit(execute_main(argv[1:]))
    from shim.commands import cli

    return cli.main(args=argv, prog_name="shim")
