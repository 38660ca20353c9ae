"""Fixtures of the interoperability suite: flytekit in its own virtualenv, across processes.

``fk_python`` (session)
    The python of a virtualenv with ``flytekit==1.16.*``, ``flytekitplugins-sqlalchemy``,
    psycopg, pandas and pyarrow, at
    ``<repo>/.cache/flytekit-venv`` (``SHIM_FLYTEKIT_VENV`` overrides), created on first use
    and reused while it imports. flytekit is never a dependency of shimkit: it lives only there.
    When it cannot be installed because no package index is reachable the suite is skipped,
    unless ``CI`` is set or ``SHIM_REQUIRE_INTEROP=1``, which turns that into a failure.
``fk`` (session)
    ``fk.run(script, *args)`` runs ``fk_scripts/<script>`` with that python (a separate
    process: bytes cross the boundary only as files) and ``fk.json(...)`` returns the JSON
    the script printed last.
``docker_client``, ``base_image``, ``sqlite3_image`` (session)
    The container suite's fixtures (tests/container/conftest.py): an engine connection and
    the sqlite3 image built from this tree.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.container.conftest import base_image, docker_client, sqlite3_image  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "fk_scripts"
FLYTEKIT_SPEC = "flytekit==1.16.*"
#: flytekit's SQLAlchemy plugin (and a PostgreSQL driver) for its SQLAlchemyTask templates
REQUIREMENTS = [
    FLYTEKIT_SPEC,
    "flytekitplugins-sqlalchemy==1.16.*",
    "psycopg[binary]",
    "pandas",
    "pyarrow",
]
STAMP = ".shim-interop-ok"
#: what pip prints when it cannot reach a package index
_OFFLINE = (
    "Could not find a version that satisfies the requirement",
    "No matching distribution found",
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "Max retries exceeded",
)


def required() -> bool:
    """CI (``CI`` set) or ``SHIM_REQUIRE_INTEROP=1``: a missing flytekit fails, never skips."""
    if os.environ.get("CI", "").strip():
        return True
    return os.environ.get("SHIM_REQUIRE_INTEROP", "").strip().lower() in ("1", "true", "yes")


def venv_dir() -> Path:
    return Path(os.environ.get("SHIM_FLYTEKIT_VENV") or REPO / ".cache" / "flytekit-venv")


def fk_env() -> dict[str, str]:
    """The environment of flytekit processes: nothing of shimkit's on their path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["FLYTE_SDK_LOGGING_LEVEL"] = "40"
    return env


def _works(python: Path) -> str | None:
    """flytekit's version when ``python`` imports flytekit 1.16 (and its SQLAlchemy plugin, a
    PostgreSQL driver), pandas and pyarrow."""
    if not python.exists():
        return None
    proc = subprocess.run(
        [
            str(python),
            "-c",
            "import flytekit, flytekitplugins.sqlalchemy, psycopg, pandas, pyarrow; "
            "print(flytekit.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=fk_env(),
        check=False,
    )
    version = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return version if proc.returncode == 0 and version.startswith("1.16.") else None


def _create(venv: Path) -> str:
    """Create the venv and install flytekit; returns an error text or ''."""
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", None) or sys.executable
    steps = [
        [base, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-input",
            *REQUIREMENTS,
        ],
    ]
    for cmd in steps:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=1200, env=fk_env(), check=False
        )
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            return (
                f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
    return ""


def _unavailable(reason: str) -> None:
    if required():
        pytest.fail(
            f"flytekit is required here (CI / SHIM_REQUIRE_INTEROP=1): {reason}", pytrace=False
        )
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fk_python() -> Path:
    """The python of the cached flytekit virtualenv (created on first use)."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one creator at a time (parallel sessions)
        if (venv / STAMP).exists() and _works(python):
            return python
        error = _create(venv)
        if error:
            tail = "\n".join(error.strip().splitlines()[-12:])
            if any(marker in error for marker in _OFFLINE):
                _unavailable(f"cannot install {FLYTEKIT_SPEC}: no package index reachable\n{tail}")
            pytest.fail(f"installing {FLYTEKIT_SPEC} into {venv} failed:\n{tail}", pytrace=False)
        version = _works(python)
        if version is None:
            pytest.fail(
                f"{venv} was created but does not import flytekit 1.16, its SQLAlchemy plugin, "
                "psycopg, pandas and pyarrow",
                pytrace=False,
            )
        (venv / STAMP).write_text(f"{FLYTEKIT_SPEC} -> flytekit {version}\n")
    return python


@dataclass
class Flytekit:
    """Runs the scripts of fk_scripts/ in the flytekit virtualenv."""

    python: Path

    @property
    def bin(self) -> Path:
        return self.python.parent

    def run(
        self,
        script: str,
        *args: str | os.PathLike[str],
        timeout: float = 300,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.python), str(SCRIPTS / script), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=fk_env(),
            cwd=cwd,
            check=False,
        )

    def json(self, script: str, *args: str | os.PathLike[str], **kw) -> dict:
        proc = self.run(script, *args, **kw)
        assert proc.returncode == 0, (
            f"{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        return json.loads(lines[-1])

    def command(
        self,
        name: str,
        *args: str | os.PathLike[str],
        timeout: float = 300,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess:
        """A console script of the flytekit venv (``pyflyte``, ``pyflyte-execute``)."""
        return subprocess.run(
            [str(self.bin / name), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=fk_env(),
            cwd=cwd,
            check=False,
        )


@pytest.fixture(scope="session")
def fk(fk_python: Path) -> Flytekit:
    return Flytekit(fk_python)
