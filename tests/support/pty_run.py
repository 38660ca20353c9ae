"""Run a command with a pseudo-terminal as its stdin, stdout and stderr (what a person at a
terminal sees), or with pipes; return everything it wrote."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time


def run_in_pty(
    cmd: list[str], *, env: dict[str, str], cwd: str | None = None, timeout: float = 300
) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise TimeoutError(f"{cmd} did not finish within {timeout}s")
    finally:
        os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def run_with_pipes(
    cmd: list[str], *, env: dict[str, str], cwd: str | None = None, timeout: float = 300
) -> tuple[int, str]:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr
