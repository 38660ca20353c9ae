"""shim.testing: pytest fixtures and helpers for task authors (and shimkit's own tests).

It is a pytest plugin, loaded by itself wherever shimkit is installed (entry point
``pytest11`` named ``shim.testing``; ``-p no:shim.testing`` turns it off). With plugin
autoloading disabled, enable it in a ``conftest.py`` with ``pytest_plugins =
["shim.testing"]``. Importing it costs pytest and the standard library only.

Fixtures
    ``shim_run``
        A :class:`TaskRunner`: ``shim_run(task, x=1)`` runs the task through the real
        entrypoint (serialize, stage ``inputs.pb``, ``shim execute``, decode ``outputs.pb``
        or raise from ``error.pb``) with the runner of ``shim_runner``, staging under a
        directory of the test (``shim_run.runs``, ``shim_run.last_run``).
    ``shim_runner``
        The runner: a test that uses ``shim_run`` (or ``shim_runner``) runs once per runner,
        ``inprocess``, ``subprocess`` and ``container`` (ids ``[inprocess]`` ...). Choose
        with ``--shim-runner NAME`` (repeatable). The container case needs an engine
        (skipped without one, failed when ``SHIM_REQUIRE_CONTAINERS=1``) and the task's image:
        override the ``shim_task_image`` fixture to build it (see below).
    ``shim_task_image`` (session)
        Requested before a container run; by default it does nothing (the task's image must
        be in the engine). An executor's ``conftest.py`` overrides it to build the image:
        ``return build_executor_image(ROOT, IMAGE)``.
    ``shim_container_engine`` (session)
        A docker SDK client (Docker or podman's socket via ``DOCKER_HOST``), or skip / fail.
    ``moto_server`` (session), ``s3_env``, ``s3_client``, ``s3_bucket``
        A local S3 (moto in server mode on 127.0.0.1): its endpoint; the environment pointing
        shimkit at it (yields the variables, for a subprocess or a container); a boto3
        client; a fresh bucket as ``s3://<name>``.
    ``secret_scanner``
        A :class:`SecretScanner`: ``secret_scanner.add(value)`` registers a secret; when the
        test ends, every file of the test's ``shim_run`` runs and what the test wrote to
        stdout/stderr are scanned for every form of it (an explicit ``secret_scanner.check(
        path, stderr=...)`` scans more).

Helpers
    :func:`execute` (stage a task and run ``python -m shim execute`` in a fresh process),
    :func:`stage`, :func:`assert_task_failed`, :func:`task_fails`,
    :func:`assert_error_document`, :func:`read_error_document`, :func:`assert_no_secret`,
    :func:`build_executor_image`, :func:`ensure_base_image`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shim.testing.images import build_executor_image, engine_client, ensure_base_image, unavailable
from shim.testing.runs import (
    RUNNERS,
    Execution,
    TaskRunner,
    assert_error_document,
    assert_task_failed,
    execute,
    read_error_document,
    stage,
    task_fails,
)
from shim.testing.s3 import moto_server, s3_bucket, s3_client, s3_env, s3_env_vars
from shim.testing.secrets import Leak, SecretScanner, assert_no_secret

__all__ = [
    "RUNNERS",
    "Execution",
    "Leak",
    "SecretScanner",
    "TaskRunner",
    "assert_error_document",
    "assert_no_secret",
    "assert_task_failed",
    "build_executor_image",
    "ensure_base_image",
    "execute",
    "moto_server",
    "read_error_document",
    "s3_bucket",
    "s3_client",
    "s3_env",
    "s3_env_vars",
    "secret_scanner",
    "shim_container_engine",
    "shim_run",
    "shim_runner",
    "shim_task_image",
    "stage",
    "task_fails",
    "unavailable",
]


# --- hooks -------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shim", "shimkit (shim.testing)")
    group.addoption(
        "--shim-runner",
        action="append",
        choices=RUNNERS,
        dest="shim_runners",
        metavar="NAME",
        help="run the tests that use shim_run with this runner only (repeatable; default: "
        "inprocess, subprocess and container)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "container: builds or runs container images (needs a Docker-compatible engine)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "shim_runner" not in metafunc.fixturenames:
        return
    if any(m.name == "parametrize" and "shim_runner" in m.args[0] for m in _marks(metafunc)):
        return  # the test chose its runners itself
    chosen = metafunc.config.getoption("shim_runners") or list(RUNNERS)
    params = [
        pytest.param(r, id=r, marks=[pytest.mark.container] if r == "container" else [])
        for r in RUNNERS
        if r in chosen
    ]
    metafunc.parametrize("shim_runner", params, indirect=True)


def _marks(metafunc: pytest.Metafunc) -> list[Any]:
    return list(metafunc.definition.iter_markers())


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def shim_runner(request: pytest.FixtureRequest) -> str:
    """The runner of this test's ``shim_run`` (parametrized over every runner)."""
    return getattr(request, "param", "inprocess")


@pytest.fixture(scope="session")
def shim_container_engine() -> Any:
    """A connected docker SDK client; skips (or fails with ``SHIM_REQUIRE_CONTAINERS=1``)
    when no engine answers."""
    client = engine_client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def shim_task_image() -> str | None:
    """Override to build the image a container run needs (default: nothing is built)."""
    return None


@pytest.fixture
def shim_run(
    request: pytest.FixtureRequest, shim_runner: str, tmp_path_factory: pytest.TempPathFactory
) -> TaskRunner:
    """A :class:`TaskRunner` for ``shim_runner``, staging under a directory of this test."""
    if shim_runner == "container":
        request.getfixturevalue("shim_container_engine")
        request.getfixturevalue("shim_task_image")
    # a directory of its own with the usual permissions (pytest's are 0700): a container's
    # user (uid 1000) must reach the runs below it through the read-only mount of the store
    return TaskRunner(shim_runner, tmp_path_factory.mktemp("shim-runs") / "store")


@pytest.fixture
def secret_scanner(request: pytest.FixtureRequest) -> Iterator[SecretScanner]:
    """Secrets registered with ``add()`` must appear in none of the test's ``shim_run`` run
    files and none of what the test printed (checked when the test ends)."""
    runner = request.getfixturevalue("shim_run") if "shim_run" in request.fixturenames else None
    capture = request.getfixturevalue("capsys" if "capsys" in request.fixturenames else "capfd")
    scanner = SecretScanner()
    yield scanner
    if not scanner.secrets:
        return
    out, err = capture.readouterr()
    paths: list[Path] = [runner.store] if runner is not None else []
    scanner.check(*paths, stdout=out, stderr=err)
