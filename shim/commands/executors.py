"""``shim executors``: what this environment (an image) can run."""

from __future__ import annotations

import click

from shim.commands.common import ShimCommand


@click.command("executors", cls=ShimCommand)
def executors_cmd() -> None:
    """List the executors installed here (entry-point group shim.executors) and their aliases."""
    from importlib.metadata import entry_points

    found = sorted(entry_points(group="shim.executors"), key=lambda e: e.name)
    if not found:
        click.echo(
            "no executors installed (install an executor distribution, e.g. shimkit-sqlite3)"
        )
    for ep in found:
        click.echo(f"{ep.name}\t{ep.value.replace(':', '.')}")
    for ep in sorted(entry_points(group="shim.executor_aliases"), key=lambda e: e.name):
        click.echo(f"  alias {ep.name.replace('__', '.')} -> {ep.value.replace(':', '.')}")
