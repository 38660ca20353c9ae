"""Container images in tests: reach the engine, build an executor's image FROM the base image.

Tests that need an engine are skipped when none answers, unless ``SHIM_REQUIRE_CONTAINERS``
is true (CI), which turns that into a failure. ``DOCKER_HOST`` chooses the engine (Docker, or
podman's Docker-compatible socket).
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import pytest

REQUIRE_ENV = "SHIM_REQUIRE_CONTAINERS"


def containers_required() -> bool:
    from shim import envconf

    return envconf.flag(REQUIRE_ENV)


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when ``SHIM_REQUIRE_CONTAINERS`` says engines are required."""
    if containers_required():
        pytest.fail(f"containers required ({REQUIRE_ENV}=1): {reason}", pytrace=False)
    pytest.skip(reason)


def engine_client() -> Any:
    """A connected docker SDK client, or :func:`unavailable`."""
    try:
        import docker  # noqa: F401
    except ImportError:
        unavailable("the docker SDK is not installed (pip install 'shimkit[docker]')")
    from shim.images import ContainerEngineError, connect

    try:
        return connect()
    except ContainerEngineError as e:
        unavailable(str(e))


def ensure_base_image(client: Any) -> str:
    """The tag of shimkit's base image, built from the shimkit source tree when the engine
    does not have it (an editable install finds its checkout); an error saying how to get it
    otherwise."""
    import docker.errors

    from shim.errors import ShimError
    from shim.images import IMAGES, build_image, find_repo_root

    tag = IMAGES["base"].tag
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    try:
        find_repo_root()
    except ShimError:
        raise ShimError(
            f"the base image {tag} is not in the engine and no shimkit source tree is here to "
            f"build it from: pull it and tag it {tag}, or run `shim images build base` in a "
            "shimkit checkout"
        ) from None
    return build_image("base", client=client)


def build_executor_image(
    context: str | os.PathLike[str], tag: str, *, client: Any = None, base: bool = True
) -> str:
    """Build the image of an executor distribution (a directory with a ``Dockerfile`` built
    ``FROM ${SHIMKIT_BASE}``, as ``shim new executor`` makes) as ``tag``; with ``base`` the
    base image is built first when the engine lacks it. Returns ``tag``. A failed build fails
    the test with the end of the build log."""
    from shim.images import ImageBuildError, build_directory

    client = client or engine_client()
    if base:
        ensure_base_image(client)
    try:
        return build_directory(context, tag, client=client)
    except ImageBuildError as e:
        pytest.fail(str(e), pytrace=False)
