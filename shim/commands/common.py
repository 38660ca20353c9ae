"""What every ``shim`` command shares: how errors are printed and which exit status they give.

One rule for every command (``shim execute`` included):

- ``0``: done;
- ``1``: the command ran and failed: a task failed, a build failed, a document could not be
  read, a service could not start;
- ``2``: the command line is wrong and nothing was done: an unknown command or option, a
  missing or malformed argument, a value that does not parse, a name that matches nothing
  (a task, an input, an image);
- ``130``: interrupted (Ctrl-C).

Errors are one line on stderr, ``shim <command>: error: <what was wrong, what to do>``; a
usage error adds ``(see 'shim <command> --help')``. No traceback for a user's mistake.

``shim execute`` (the container entrypoint) keeps Flyte's contract on top of this: a task
that fails exits 0 once its ``error.pb`` is written (unless ``FLYTE_FAIL_ON_ERROR``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from shim.errors import ShimError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def command_path(ctx: click.Context | None = None) -> str:
    """``shim run``, ``shim images build``: the command being run (``shim`` outside one)."""
    ctx = ctx or click.get_current_context(silent=True)
    return ctx.command_path if ctx is not None else "shim"


def error_line(message: str, ctx: click.Context | None = None) -> str:
    return f"{command_path(ctx)}: error: {message}"


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``shim <cmd>: error: <message>`` on stderr and exit with ``code``."""
    click.echo(error_line(message), err=True)
    sys.exit(code)


def usage(message: str) -> NoReturn:
    """A usage error (exit status 2) about the command line of the current command."""
    raise click.UsageError(message)


def _show_usage_error(e: click.UsageError) -> None:
    ctx = e.ctx
    click.echo(error_line(e.format_message(), ctx), err=True)
    click.echo(f"(see '{command_path(ctx)} --help')", err=True)


class ShimCommand(click.Command):
    """A command whose failures follow the module's rule: a :class:`~shim.errors.ShimError`
    or a ``click.ClickException`` that escapes it is printed once, with its prefix."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError:
            raise
        except click.ClickException as e:
            fail(e.format_message(), e.exit_code if e.exit_code != 2 else EXIT_USAGE)
        except ShimError as e:
            fail(str(e))


class ShimGroup(click.Group):
    """The ``shim`` group and its sub-groups: sub-commands are :class:`ShimCommand`, and when
    run as a program the usage errors are printed in the common form."""

    command_class = ShimCommand

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            _show_usage_error(e)
            sys.exit(EXIT_USAGE)
        except click.ClickException as e:  # raised outside any command (rare)
            click.echo(f"shim: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("shim: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


ShimGroup.group_class = ShimGroup


def quiet_option(f: F) -> F:
    """``-q/--quiet``: no progress display (it is shown only on a terminal, never in CI)."""
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="no progress display (shown only on a terminal, and never when CI is set)",
    )(f)
