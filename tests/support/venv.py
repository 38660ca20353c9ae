"""A fresh virtualenv that sees the test venv's packages (shimkit and its tools) and gets its
own: a test installs a generated distribution there without touching the test venv.

The new venv has no pip and no packages of its own; a ``.pth`` file runs
``site.addsitedir(<the test venv's site-packages>)``, so the test venv's packages (editable
installs included) import, and ``pip`` run by the new venv's python installs into the new
venv. Small wrappers in its ``bin`` give ``pip``, ``shim`` and ``pytest`` on ``PATH``.
Creating one takes a fraction of a second.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
import venv
from pathlib import Path

WRAPPERS = {"pip": "pip", "shim": "shim", "pytest": "pytest"}


def overlay_venv(path: Path) -> Path:
    """Create the venv at ``path``; return its ``bin`` directory."""
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(path)
    bin_dir = path / "bin"
    python = bin_dir / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    outer = sysconfig.get_paths()["purelib"]
    Path(purelib, "_shim_test_outer.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    for name, module in WRAPPERS.items():
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{python}" -m {module} "$@"\n')
        script.chmod(0o755)
    return bin_dir


def venv_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run in the venv: its ``bin`` first on ``PATH``,
    ``VIRTUAL_ENV`` set, no ``PYTHONPATH`` of the test run."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    env.update(extra)
    return env


__all__ = ["overlay_venv", "venv_env"]
