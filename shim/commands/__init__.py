"""click commands of ``shim`` (everything but the fast ``execute`` path)."""

from __future__ import annotations

import click

from shim.commands.common import ShimCommand, ShimGroup
from shim.commands.connectors import connectors_group
from shim.commands.executors import executors_cmd
from shim.commands.images import images_group
from shim.commands.inspect import inspect_cmd
from shim.commands.new import new_group
from shim.commands.package import package_cmd
from shim.commands.run import run_cmd
from shim.commands.runs import runs_group


@click.group("shim", cls=ShimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shimkit", prog_name="shim")
def cli() -> None:
    """shimkit: pre-built container tasks, wire-compatible with Flyte.

    Exit status of every command: 0 done, 1 failed (a task, a build, a read), 2 a wrong
    command line; errors are printed as `shim <command>: error: ...`.
    """


@cli.command(
    "execute",
    cls=ShimCommand,
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def execute_cmd(argv: tuple[str, ...]) -> None:
    """Run a task from its template (the container entrypoint; see `shim execute --help`)."""
    from shim.runtime.main import execute_main

    raise SystemExit(execute_main(list(argv)))


cli.add_command(run_cmd)
cli.add_command(runs_group)
cli.add_command(inspect_cmd)
cli.add_command(package_cmd)
cli.add_command(executors_cmd)
cli.add_command(images_group)
cli.add_command(connectors_group)
cli.add_command(new_group)
