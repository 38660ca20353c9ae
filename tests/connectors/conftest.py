"""Fixtures of the connector tests: a file-job system, a served connector, the engine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.conftest import docker_client  # noqa: F401 - the engine fixture

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def jobs_dir(tmp_path: Path) -> str:
    """The directory the file-job system keeps its job records in."""
    d = tmp_path / "jobs"
    d.mkdir()
    return str(d)


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A local store for run directories."""
    d = tmp_path / "runs"
    d.mkdir()
    return str(d)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


class Server:
    """``shim connectors serve`` in its own process (``start``, ``kill``, ``stop``)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, port: int | None = None) -> Server:
        port = self.port if port is None else port
        cmd = [sys.executable, "-m", "shim", "connectors", "serve", "--port", str(port), *self.args]
        out = open(self.log, "a")  # noqa: SIM115 - kept by the child
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out, cwd=REPO)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log.read_text()
            found = re.findall(r"listening on [^ ]+:(\d+)", text)
            if found and len(found) > self.starts:
                self.port = int(found[-1])
                self.starts += 1
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        raise RuntimeError(f"the server did not start:\n{self.log.read_text()}")

    starts = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """``serve(*args, env=...)`` starts a server process; every one is stopped at the end."""
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        s = Server(list(args), env or child_env(), tmp_path / f"server{len(servers)}.log")
        servers.append(s)
        return s.start(0)

    yield start
    for s in servers:
        s.kill()
