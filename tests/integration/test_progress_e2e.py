"""``shim run`` uploading an input file to S3 (moto): the transfer's progress line is on the
terminal (a pseudo-terminal), and nowhere when the output is a pipe, in CI or with --quiet."""

from __future__ import annotations

import os
import sys

import pytest

from tests.support.pty_run import run_in_pty, run_with_pipes

TASKS = """
from shim import File, TaskEnvironment

env = TaskEnvironment(name="prog")


@env.task
def takes(f: File) -> str:
    return "got it"
"""


@pytest.fixture
def command(tmp_path, s3_bucket, s3_env):
    (tmp_path / "progtasks.py").write_text(TASKS)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 << 20))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(s3_env, SHIM_PROGRESS_DELAY="0", TERM="xterm", PYTHONPATH=os.getcwd())
    cmd = [
        sys.executable,
        "-m",
        "shim",
        "run",
        "progtasks.py:takes",
        "-i",
        f"f={big}",
        "--store",
        f"{s3_bucket}/runs",
    ]
    return cmd, env, str(tmp_path)


def test_on_a_terminal_the_upload_shows(command):
    cmd, env, cwd = command
    code, out = run_in_pty(cmd, env=env, cwd=cwd)
    assert code == 0, out
    assert "got it" in out
    assert " of 6.0 MiB, " in out and "/s, upload to s3://" in out
    assert "\r\x1b[K" in out


@pytest.mark.parametrize("how", ["pipe", "CI", "quiet"])
def test_no_progress_when_no_one_watches(command, how):
    cmd, env, cwd = command
    if how == "pipe":
        code, out = run_with_pipes(cmd, env=env, cwd=cwd)
    elif how == "CI":
        code, out = run_in_pty(cmd, env={**env, "CI": "1"}, cwd=cwd)
    else:
        code, out = run_in_pty([*cmd, "--quiet"], env=env, cwd=cwd)
    assert code == 0, out
    assert "got it" in out
    assert "upload to" not in out and "MiB" not in out and "\x1b[K" not in out
