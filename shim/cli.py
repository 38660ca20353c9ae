"""The ``shim`` command line.

``shim execute`` is the container entrypoint and is dispatched before click is imported, so
its start-up pays only for what the task needs. Every other command is a click command.
"""

from __future__ import annotations

import sys
from typing import Any


def execute_main(argv: list[str]) -> int:
    """``shim execute`` / ``pyflyte-execute``: run one task execution; returns the exit status."""
    from shim.runtime.args import UsageError, execute_help, parse_execute_args

    flags = argv[: argv.index("--")] if "--" in argv else argv
    if "-h" in flags or "--help" in flags:
        print(execute_help())
        return 0
    try:
        args = parse_execute_args(argv)
    except UsageError as e:
        print(f"shim execute: error: {e} (see 'shim execute --help')", file=sys.stderr)
        return 2
    from shim import envconf

    supervise, setup_error = args.supervise, None
    if supervise is None:
        try:
            supervise = envconf.flag("SHIM_SUPERVISE")
        except envconf.InvalidConfigError as e:  # reported in the error document
            supervise, setup_error = False, e
    if supervise:
        from shim.runtime.supervisor import supervise_execute

        return supervise_execute(argv, args)
    from shim.runtime.entrypoint import run, supervised_progress

    return run(args, handle_sigterm=True, progress=supervised_progress(), setup_error=setup_error)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point of ``shim``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["execute"]:
        sys.exit(execute_main(argv[1:]))
    from shim.commands import cli

    return cli.main(args=argv, prog_name="shim")
