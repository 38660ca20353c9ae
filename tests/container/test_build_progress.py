"""``shim images build`` on a terminal shows the build's current step (a pseudo-terminal
here); with its output on a pipe, or with --quiet, it prints only the result line."""

from __future__ import annotations

import os
import sys

import pytest

from shim.images import IMAGES
from tests.support.pty_run import run_in_pty, run_with_pipes


@pytest.fixture
def command(docker_client):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["TERM"] = "xterm"
    return [sys.executable, "-m", "shim", "images", "build", "base"], env


def test_the_current_step_is_shown_on_a_terminal(command):
    cmd, env = command
    code, out = run_in_pty(cmd, env=env, timeout=1800)
    assert code == 0, out
    assert f"building {IMAGES['base'].tag}: stage 1/2, step 1/" in out
    assert f"building {IMAGES['base'].tag}: stage 2/2, step " in out
    assert f"base\t{IMAGES['base'].tag}" in out
    assert "\r\x1b[K" in out


@pytest.mark.parametrize("how", ["pipe", "quiet"])
def test_only_the_result_otherwise(command, how):
    cmd, env = command
    if how == "pipe":
        code, out = run_with_pipes(cmd, env=env, timeout=1800)
    else:
        code, out = run_in_pty([*cmd, "--quiet"], env=env, timeout=1800)
    assert code == 0, out
    assert out.strip() == f"base\t{IMAGES['base'].tag}"
