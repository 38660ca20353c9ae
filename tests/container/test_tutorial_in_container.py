"""docs/tutorial.md with its container steps: the image built FROM the base image, the task
run in it, the generated tests' container runner."""

from __future__ import annotations

import subprocess

from tests.support.scaffold import forwarded
from tests.support.tutorial import script
from tests.support.venv import overlay_venv, venv_env


def test_the_tutorial_runs_with_containers(tmp_path, docker_client):
    bin_dir = overlay_venv(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    env = venv_env(
        bin_dir,
        SHIM_LOCAL_STORE=str(tmp_path / "store"),
        SHIM_REQUIRE_CONTAINERS="1",
        **forwarded("DOCKER_HOST"),
    )
    proc = subprocess.run(
        ["bash", "-c", script(containers=True)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert proc.stdout.count("Hi, World! Hi, World!") >= 2  # in-process, then in the image
    assert ".\tgreet:0.1.0" in proc.stdout  # shim images build . --tag greet:0.1.0
    assert "passed" in proc.stdout and "skipped" not in proc.stdout
