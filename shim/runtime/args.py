"""The command line of ``shim execute`` / ``pyflyte-execute`` (WIRE.md section 1).

Parsed with argparse, not click, because this is the container's start-up path.
"""

from __future__ import annotations

import argparse
import functools
import re
from dataclasses import dataclass, field

#: resolver paths shimkit answers to: its own and flytekit's, so flytekit templates run unchanged
SHIM_RESOLVER = "shim.runtime.resolver.default_task_template_resolver"
FLYTEKIT_RESOLVER = "flytekit.core.python_customized_container_task.default_task_template_resolver"

_UNRENDERED = re.compile(r"^\{\{\s*\.[A-Za-z]+\s*\}\}$")


class UsageError(Exception):
    """The command line itself is wrong (exit status 2, one line on stderr)."""


@dataclass
class ExecuteArgs:
    """Parsed ``shim execute`` arguments; absent values are ``None``."""

    inputs: str | None
    output_prefix: str | None
    raw_output_data_prefix: str | None
    resolver: str
    resolver_args: list[str] = field(default_factory=list)
    checkpoint_path: str | None = None
    prev_checkpoint: str | None = None
    supervise: bool | None = None


def absent(value: str | None) -> str | None:
    """``None`` for values that mean "absent": empty, ``""``, ``'""'``, unrendered ``{{.x}}``."""
    if value is None:
        return None
    v = value.strip()
    if v in ("", '""', "''", "'\"\"'") or _UNRENDERED.match(v):
        return None
    return v


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


_POSITIONALS = """\
positional arguments (after --, as the task template's args give them):
  TEMPLATE              URL of the task template, task.pb ({{.taskTemplatePath}})
  RESOLVER-ARGS...      what the resolver needs to find the task's code:
                          default resolver: EXECUTOR, the executor class as
                          module.Class (e.g. shim_sqlite3.executor.SQLite3TaskExecutor)
                          function resolver: task-module MODULE task-name NAME

exit status: 0 when outputs.pb or error.pb was written (a failed task included, unless
FLYTE_FAIL_ON_ERROR is true), 2 for a wrong command line, 1 when no document could be
written."""


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser of ``shim execute``'s flags, built once (in-process runs, nested calls
    among them, parse their args on every run; parsing does not change the parser)."""
    p = _Parser(
        prog="shim execute",
        usage="shim execute [options] -- TEMPLATE RESOLVER-ARGS...",
        add_help=True,
        allow_abbrev=False,
        description="Run a pre-built task from its template (the container entrypoint; "
        "pyflyte-execute in the images).",
        epilog=_POSITIONALS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--inputs", help="URL of inputs.pb (a LiteralMap)")
    p.add_argument("--output-prefix", help="where outputs.pb or error.pb is written")
    p.add_argument("--raw-output-data-prefix", help="where offloaded data (files, dataframes) goes")
    p.add_argument("--checkpoint-path", help="where this attempt may write checkpoints")
    p.add_argument("--prev-checkpoint", help="checkpoint of the previous attempt, if any")
    p.add_argument("--resolver", default=SHIM_RESOLVER, help="task resolver import path")
    p.add_argument(
        "--supervise",
        dest="supervise",
        action="store_true",
        default=None,
        help="run the work in a child process and report its abrupt death",
    )
    p.add_argument(
        "--no-supervise",
        dest="supervise",
        action="store_false",
        help="run the work in this process (default: SHIM_SUPERVISE)",
    )
    # accepted for compatibility with pyflyte-execute, and ignored
    p.add_argument("--test", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dynamic-addl-distro", help=argparse.SUPPRESS)
    p.add_argument("--dynamic-dest-dir", help=argparse.SUPPRESS)
    return p


def parse_execute_args(argv: list[str]) -> ExecuteArgs:
    """Parse the flags before ``--`` and keep everything after it as resolver arguments."""
    if "--" in argv:
        i = argv.index("--")
        flags, rest = argv[:i], argv[i + 1 :]
    else:
        flags, rest = argv, []
    ns = _parser().parse_args(flags)
    return ExecuteArgs(
        inputs=absent(ns.inputs),
        output_prefix=absent(ns.output_prefix),
        raw_output_data_prefix=absent(ns.raw_output_data_prefix),
        resolver=ns.resolver,
        resolver_args=list(rest),
        checkpoint_path=absent(ns.checkpoint_path),
        prev_checkpoint=absent(ns.prev_checkpoint),
        supervise=ns.supervise,
    )


def output_prefix_of(argv: list[str]) -> str | None:
    """The ``--output-prefix`` of a command line that does not parse as a whole (an unknown
    flag, a missing value elsewhere), so that the usage error can still be reported there."""
    flags = argv[: argv.index("--")] if "--" in argv else argv
    p = _Parser(add_help=False, allow_abbrev=False)
    p.add_argument("--output-prefix")
    try:
        ns, _ = p.parse_known_args(flags)
    except UsageError:
        return None
    return absent(ns.output_prefix)


def execute_help() -> str:
    return _parser().format_help()
