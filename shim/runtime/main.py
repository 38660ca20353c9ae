"""``shim execute`` / ``pyflyte-execute``: the container entrypoint's command line.

It lives in the runtime (not in :mod:`shim.cli`) so that the images' ``pyflyte-execute``
script, the click command ``shim execute`` and ``shim.cli`` all call down into it and nothing
in the runtime calls back up. Only the argument parser is imported until the task runs:
``--help`` and usage errors pay for nothing else.
"""

from __future__ import annotations

import sys


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
        usage: UsageError | None = e
    else:
        usage = None
    if usage is not None:  # reported outside the except block: no chained traceback
        return _usage_error(argv, usage)
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


def _usage_error(argv: list[str], e: Exception) -> int:
    """A command line that does not parse: one line on stderr and exit status 2, or, when its
    ``--output-prefix`` can be read, an error document there (a wrong template's args are the
    task's mistake, not to be retried: ``USER:BadArguments``) and the status of any failure
    reported in one (0, or 1 with ``FLYTE_FAIL_ON_ERROR``)."""
    from shim.runtime.args import ExecuteArgs, output_prefix_of

    print(f"shim execute: error: {e} (see 'shim execute --help')", file=sys.stderr)
    prefix = output_prefix_of(argv)
    if prefix is None:
        return 2
    from shim.errors import UserError
    from shim.runtime.entrypoint import run

    error = UserError(
        f"the command line of shim execute is wrong: {e}; the template's container args must "
        "be `pyflyte-execute --inputs ... --output-prefix ... --raw-output-data-prefix ... "
        "--resolver ... -- <resolver args>` (see shim execute --help)",
        code="BadArguments",
    )
    args = ExecuteArgs(inputs=None, output_prefix=prefix, raw_output_data_prefix=None, resolver="")
    return run(args, handle_sigterm=True, setup_error=error, quiet=True)
