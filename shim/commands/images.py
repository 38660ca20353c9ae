"""``shim images``: build the images this source tree ships."""

from __future__ import annotations

import sys

import click

from shim.errors import ShimError


@click.group("images")
def images_group() -> None:
    """Build shimkit's container images (docker SDK; Docker or podman's socket)."""


@images_group.command("build")
@click.argument("names", nargs=-1)
@click.option("--base-image", default=None, help="BASE_IMAGE build argument")
@click.option("--tag", default=None, help="tag (only with a single image name)")
@click.option("--repo-root", default=None, help="source tree holding images/ (default: this one)")
def build_cmd(
    names: tuple[str, ...], base_image: str | None, tag: str | None, repo_root: str | None
) -> None:
    """Build NAMES (default: all; see `shim images list`)."""
    from shim.images import IMAGES, build_image

    selected = list(names) or list(IMAGES)
    unknown = [n for n in selected if n not in IMAGES]
    if unknown:
        click.echo(
            f"shim images build: unknown image(s) {unknown}; known: {list(IMAGES)}", err=True
        )
        sys.exit(2)
    if tag and len(selected) != 1:
        click.echo("shim images build: --tag needs exactly one image name", err=True)
        sys.exit(2)
    for name in selected:
        try:
            ref = build_image(name, repo_root=repo_root, base_image=base_image, tag=tag)
        except ShimError as e:
            click.echo(f"shim images build: {e}", err=True)
            sys.exit(1)
        click.echo(f"{name}\t{ref}")


@images_group.command("list")
def list_cmd() -> None:
    """List the images this source tree ships."""
    from shim.images import IMAGES

    for name, spec in IMAGES.items():
        click.echo(f"{name}\t{spec.tag}\t{spec.dockerfile}")
