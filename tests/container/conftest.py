"""Fixtures for tests that build and run shimkit's real images (marker ``container``).

``docker_client`` (session)
    A docker SDK client connected to a Docker-compatible engine: ``DOCKER_HOST`` when set;
    else Docker's default socket when it exists; else, when running as root on a machine with
    podman, a podman API service started for the session by the container-host ``setup.sh``
    (``SHIM_CONTAINER_SETUP``, default ``../shared/container-host/setup.sh`` next to the
    repository) and stopped at the end. No engine: the tests are skipped, unless
    ``SHIM_REQUIRE_CONTAINERS=1`` (CI), which turns that into a failure.
``base_image``, ``sqlite3_image`` (session)
    The images built once per session from this source tree with
    :func:`shim.images.build_image` (``SHIM_BASE_IMAGE`` overrides the ``BASE_IMAGE``
    build argument); their tags.
``run_label``, ``leftovers`` (function)
    A unique ``(key, value)`` label for the containers a test creates, and a function
    ``leftovers(label)`` listing the containers that still carry it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SETUP = REPO_ROOT.parent / "shared" / "container-host" / "setup.sh"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/container carries the ``container`` marker."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.container)


def unavailable(reason: str) -> None:
    """Skip, or fail when ``SHIM_REQUIRE_CONTAINERS=1`` says containers are required."""
    from shim.testing import unavailable as skip_or_fail

    skip_or_fail(reason)


def _start_podman_service(sock: Path) -> tuple[str, int]:
    """Run ``setup.sh --service SOCK``; return (DOCKER_HOST, service pid)."""
    setup = Path(os.environ.get("SHIM_CONTAINER_SETUP") or DEFAULT_SETUP)
    if not setup.is_file():
        raise RuntimeError(f"no container-host setup script at {setup} (SHIM_CONTAINER_SETUP)")
    proc = subprocess.run(
        ["bash", str(setup), "--service", str(sock)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or len(lines) < 2 or not lines[-2].startswith("DOCKER_HOST="):
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{setup} --service failed (exit {proc.returncode}):\n{tail}")
    host = lines[-2].split("=", 1)[1]
    pid = int(lines[-1].split("=", 1)[1])
    return host, pid


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def docker_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A connected docker SDK client (see the module docstring for how one is found)."""
    try:
        import docker  # noqa: F401
    except ImportError:
        unavailable("the docker SDK is not installed (pip install 'shimkit[docker]')")
    from shim.images import ContainerEngineError, connect

    started_pid: int | None = None
    saved_host = os.environ.get("DOCKER_HOST")
    if not saved_host and not os.path.exists("/var/run/docker.sock"):
        if not shutil.which("podman"):
            unavailable(
                "no container engine: DOCKER_HOST is unset, no /var/run/docker.sock, no podman"
            )
        if os.geteuid() != 0:
            unavailable("DOCKER_HOST is unset; start `podman system service` and set it")
        sock = Path(tempfile_dir()) / f"shim-test-podman-{uuid.uuid4().hex[:8]}.sock"
        try:
            host, started_pid = _start_podman_service(sock)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            unavailable(f"could not start a podman service: {e}")
        os.environ["DOCKER_HOST"] = host
    try:
        client = connect()
    except ContainerEngineError as e:
        if started_pid is not None:
            _stop(started_pid)
        unavailable(str(e))
    try:
        yield client
    finally:
        client.close()
        if started_pid is not None:
            _stop(started_pid)
            if saved_host is None:
                os.environ.pop("DOCKER_HOST", None)


def tempfile_dir() -> str:
    """A short directory for the socket (unix socket paths are limited to ~108 bytes)."""
    import tempfile

    return tempfile.gettempdir()


def _build(name: str, client: Any) -> str:
    from shim.images import ImageBuildError, build_image

    try:
        return build_image(name, client=client, base_image=os.environ.get("SHIM_BASE_IMAGE"))
    except ImageBuildError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    """The tag of shimkit-base, built from this tree once per session."""
    return _build("base", docker_client)


@pytest.fixture(scope="session")
def sqlite3_image(docker_client: Any) -> str:
    """The tag of shimkit-sqlite3, built from this tree once per session."""
    return _build("sqlite3", docker_client)


@pytest.fixture
def run_label() -> tuple[str, str]:
    """A unique ``(key, value)`` label for the containers of one test."""
    return ("io.shimkit.test", uuid.uuid4().hex)


@pytest.fixture
def leftovers(docker_client: Any) -> Callable[[tuple[str, str]], list[Any]]:
    """``leftovers(label)``: the containers (any state) that still carry ``label``."""

    def find(label: tuple[str, str]) -> list[Any]:
        return docker_client.containers.list(all=True, filters={"label": f"{label[0]}={label[1]}"})

    return find
