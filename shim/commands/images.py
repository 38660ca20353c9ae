"""``shim images``: build the images this source tree ships, or an executor's own image."""

from __future__ import annotations

from pathlib import Path

import click

from shim.commands.common import ShimGroup, quiet_option, usage


@click.group("images", cls=ShimGroup)
def images_group() -> None:
    """Build container images (docker SDK; Docker or podman's socket)."""


@images_group.command("build")
@click.argument("names", nargs=-1)
@click.option("--base-image", default=None, help="BASE_IMAGE build argument (shipped images)")
@click.option(
    "--tag",
    "-t",
    default=None,
    help="tag (only with a single name; needed for a directory)",
)
@click.option("--repo-root", default=None, help="source tree holding images/ (default: this one)")
@click.option("--log", "show_log", is_flag=True, help="stream the whole build log to stderr")
@quiet_option
def build_cmd(
    names: tuple[str, ...],
    base_image: str | None,
    tag: str | None,
    repo_root: str | None,
    show_log: bool,
    quiet: bool,
) -> None:
    """Build NAMES: shipped images (default: all; see `shim images list`) or directories
    holding a Dockerfile built FROM shimkit's base image (e.g. `shim images build . -t
    greet:0.1.0` in a package made by `shim new executor`).

    On a terminal the current build step is shown as it runs (not with --quiet, not when
    CI is set); --log streams the engine's whole log instead.
    """
    from shim import progress
    from shim.images import IMAGES, build_directory, build_image

    selected = list(names) or list(IMAGES)
    dirs = [n for n in selected if n not in IMAGES and Path(n).is_dir()]
    unknown = [n for n in selected if n not in IMAGES and n not in dirs]
    if unknown:
        usage(
            f"unknown image(s) {', '.join(unknown)}: name shipped images "
            f"({', '.join(IMAGES)}) or directories holding a Dockerfile"
        )
    if tag and len(selected) != 1:
        usage("--tag needs exactly one image name")
    if dirs and not tag:
        usage(f"--tag is needed to build the directory {dirs[0]} (e.g. --tag NAME:VERSION)")
    with progress.display(quiet=quiet or show_log):
        for name in selected:
            if name in dirs:
                assert tag is not None
                ref = build_directory(name, tag, quiet=not show_log)
            else:
                ref = build_image(
                    name, repo_root=repo_root, base_image=base_image, tag=tag, quiet=not show_log
                )
            click.echo(f"{name}\t{ref}")


@images_group.command("list")
def list_cmd() -> None:
    """List the images this source tree ships."""
    from shim.images import IMAGES

    for name, spec in IMAGES.items():
        click.echo(f"{name}\t{spec.tag}\t{spec.dockerfile}")
