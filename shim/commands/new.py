"""``shim new``: start a new piece of shimkit from a template."""

from __future__ import annotations

from pathlib import Path

import click

from shim.commands.common import ShimGroup, fail, usage


@click.group("new", cls=ShimGroup)
def new_group() -> None:
    """Start something new from a template (see `shim new executor --help`)."""


@new_group.command("executor")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="where to write it (default: ./NAME; must not exist or be empty)",
)
@click.option("--package", default=None, help="the import package (default: NAME with _)")
def executor_cmd(name: str, directory: str | None, package: str | None) -> None:
    """Write a ready executor distribution NAME (e.g. greet, word-count): a task class, an
    executor with a typed config, its `shim.executors` entry point, a Dockerfile FROM
    shimkit's base image, a README, and tests that run it in-process, as a subprocess and in
    its image (shim.testing). It passes its own tests as generated."""
    from shim.scaffold import ScaffoldError, executor_values, new_executor

    try:
        values = executor_values(name, package)
        files = new_executor(name, directory, package=package)
    except ScaffoldError as e:
        usage(str(e))
    except OSError as e:
        fail(f"cannot write the files: {e}")
    root = Path(directory) if directory is not None else Path(values["dist"])
    click.echo(f"created {root}/ ({values['Class']}Task, {values['Class']}Executor):")
    for f in files:
        click.echo(f"  {f.relative_to(root)}")
    click.echo(
        f"next:\n  cd {root}\n  pip install -e '.[test]'\n  pytest\n"
        f"  shim images build . --tag {values['image']}"
    )
