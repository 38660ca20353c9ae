"""A local S3: moto in server mode, over real HTTP on loopback (``moto[server]`` and boto3).

Fixtures (see :mod:`shim.testing`): ``moto_server`` (session), ``s3_env``, ``s3_client``,
``s3_bucket``. The host is 127.0.0.1, so a container run with host networking (shimkit's
container runner) reaches the same endpoint.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
#: variables removed while ``s3_env`` is active, so no real account is ever reached
CLEARED = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def s3_env_vars(endpoint: str) -> dict[str, str]:
    """The environment variables that point shimkit (or flytekit) at ``endpoint``."""
    return {
        "FLYTE_AWS_ENDPOINT": endpoint,
        "FLYTE_AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "FLYTE_AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
    }


def boto3_client(endpoint: str) -> Any:
    """A boto3 S3 client for ``endpoint`` with the test credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(endpoint: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # it answers
        except OSError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint URL of a moto S3 server on 127.0.0.1 (a subprocess for the whole session)."""
    if importlib.util.find_spec("moto") is None:
        pytest.fail(
            "the moto_server fixture needs moto: pip install 'moto[server]' boto3 "
            "(or 'shimkit[testing]')",
            pytrace=False,
        )
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLYTE_AWS_"))}
    for _ in range(3):
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        if _wait_ready(endpoint, proc, timeout=30):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"moto server did not start; see {log_path}:\n{log_path.read_text()[-2000:]}")
    try:
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reset_storage() -> None:
    """Drop shimkit's cached remote filesystems (after the S3 settings changed)."""
    with contextlib.suppress(ImportError):
        from shim.storage import reset_cache

        reset_cache()


@pytest.fixture
def s3_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment pointing shimkit's storage at the moto server (``FLYTE_AWS_*``, test
    credentials, ``AWS_REGION``; other AWS endpoint and credential variables removed and the
    AWS config files hidden); yields the variables it set, to pass to a subprocess or a
    container."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    env = s3_env_vars(moto_server)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_storage()
    try:
        yield env
    finally:
        reset_storage()


@pytest.fixture
def s3_client(moto_server: str) -> Any:
    """A boto3 S3 client talking to the moto server directly."""
    return boto3_client(moto_server)


@pytest.fixture
def s3_bucket(s3_env: dict[str, str], s3_client: Any) -> str:
    """A fresh bucket on the moto server, as ``"s3://<bucket>"`` (implies ``s3_env``)."""
    name = f"shim-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return f"s3://{name}"
