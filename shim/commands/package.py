"""``shim package``: the registration package (.tgz) a Flyte cluster accepts for shimkit tasks."""

from __future__ import annotations

import click

from shim.commands.common import ShimCommand, usage


def _no_short_image(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value:
        usage(
            "-i means --input in shim (shim run -i NAME=VALUE); name the image with --image "
            "(pyflyte package's -i)"
        )


def _split(values: tuple[str, ...]) -> list[str]:
    """``--pkgs a,b --pkgs c`` -> ``[a, b, c]`` (pyflyte accepts comma-separated lists)."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


@click.command("package", cls=ShimCommand)
@click.argument("modules", nargs=-1)
@click.option(
    "--pkgs",
    "-k",
    multiple=True,
    metavar="PKG",
    help="a package or module to load (repeatable, or comma-separated); packages are walked "
    "recursively",
)
@click.option(
    "--source",
    "-s",
    default=".",
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="the directory the packages are imported from",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="[NAME=]URI",
    help="register tasks with this image: URI for every task, NAME=URI for the tasks whose "
    "image repository is NAME (e.g. shimkit-sqlite3=ghcr.io/me/shimkit-sqlite3:1); "
    "default: each task's own image",
)
@click.option(
    "--project", "-p", default="", help="project of the task ids (default: set at registration)"
)
@click.option(
    "--domain", "-d", default="", help="domain of the task ids (default: set at registration)"
)
@click.option(
    "--version",
    "-v",
    "version",
    default="",
    help="version of the task ids (default: set at registration)",
)
@click.option(
    "--output",
    "-o",
    default="flyte-package.tgz",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="the package file to write",
)
@click.option("--force", "-f", is_flag=True, help="overwrite the output file if it exists")
@click.option(
    "-i", "short_image", is_flag=True, hidden=True, expose_value=False, callback=_no_short_image
)
def package_cmd(
    modules: tuple[str, ...],
    pkgs: tuple[str, ...],
    source: str,
    images: tuple[str, ...],
    project: str,
    domain: str,
    version: str,
    output: str,
    force: bool,
) -> None:
    """Write a registration package for the tasks defined in MODULES / --pkgs.

    The same layout as `pyflyte package`: a .tgz with one serialized flyteidl
    admin.TaskSpec per task, named <index>_<task name>_1.pb. Register it with
    `flytectl register files --archive flyte-package.tgz --project P --domain D --version V`.
    MODULES are dotted module names or .py files.
    """
    from shim.package import PackageTargetError, package

    targets = [*modules, *_split(pkgs)]
    if not targets:
        usage("name the modules or packages to package (MODULES or --pkgs)")
    try:
        members = package(
            targets,
            output,
            source=source,
            project=project,
            domain=domain,
            version=version,
            images=images,
            force=force,
        )
    except PackageTargetError as e:
        usage(str(e))
    for m in members:
        click.echo(f"  Packaging {m.task_name} -> {m.member}")
    click.echo(f"Successfully packaged {len(members)} tasks into {output}")
