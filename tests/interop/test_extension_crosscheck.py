"""EXTENSION.md sections 1-4 against flyte-sdk 2.12.1 and shimkit: the same cases, two SDKs.

``ext_scripts/ext_cases.py`` runs every case with either SDK and prints the outcomes. Where
EXTENSION.md marks no fix, shimkit must give the reference's result; each **fix** is asserted
both ways: the reference's (defective) outcome and shimkit's, so a fix is a behaviour the
reference is shown to fail.

flyte lives only in its own virtualenv, ``<repo>/.cache/flyte-venv`` (``SHIM_FLYTE_VENV``
overrides), created on first use like the flytekit one (tests/interop/conftest.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import _OFFLINE, REPO, _unavailable, fk_env

pytestmark = pytest.mark.interop

FLYTE_SPEC = "flyte==2.12.1"
SCRIPT = Path(__file__).resolve().parent / "ext_scripts" / "ext_cases.py"
STAMP = ".shim-interop-ok"

#: case -> (the reference's outcome, shimkit's outcome), for the cases EXTENSION.md marks fix
FIXES = {
    # section 1
    "fix_env_vars_copied": ({"value": ["A", "B", "C"]}, {"value": ["A"]}),
    "fix_cache_checked_at_environment": ({"value": "accepted"}, {"error": "ValueError"}),
    "fix_add_dependency_ignores_duplicates": ({"value": ["b", "b"]}, {"value": ["b"]}),
    "fix_dependency_cycle": ({"value": "accepted"}, {"error": "ValueError"}),
    "fix_clone_with_every_field": (
        {"error": "TypeError"},
        {"value": ["copy", "q", True, {"A": "1"}]},
    ),
    "fix_override_falsy_values": (
        {"value": [3, 10.0, {"A": "1"}, "q"]},
        {"value": [0, 0.0, {}, ""]},
    ),
    # section 2
    "fix_unannotated_parameter": ({"value": "accepted"}, {"error": "TypeError"}),
    "fix_lambda_task": ({"value": "accepted"}, {"error": "TypeError"}),
    "fix_aio_async_task_value": ({"value": "coroutine"}, {"value": "int"}),
    "fix_post_return_replaces_result": ({"value": 101}, {"value": 201}),
    # section 3
    "fix_unregistered_config_at_environment": ({"value": "accepted"}, {"error": "ValueError"}),
    "fix_duplicate_registration": ({"value": "OtherEcho"}, {"error": "ValueError"}),
    "fix_lookup_walks_mro": ({"value": None}, {"value": "BaseTask"}),
    "fix_plugin_class_not_a_task": ({"value": "accepted"}, {"error": "TypeError"}),
    # section 4: the reference's sync trace in an async task dies on its own deadlock guard
    "fix_sync_trace_from_async_task": ({"value": {"failed": "AssertionError"}}, {"value": 9}),
}


def _venv() -> Path:
    return Path(os.environ.get("SHIM_FLYTE_VENV") or REPO / ".cache" / "flyte-venv")


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    proc = subprocess.run(
        [str(python), "-c", "import flyte; print(flyte.__version__)"],
        capture_output=True,
        text=True,
        timeout=300,
        env=fk_env(),
        check=False,
    )
    return proc.returncode == 0 and proc.stdout.strip().endswith("2.12.1")


@pytest.fixture(scope="session")
def flyte_python() -> Path:
    """The python of the cached flyte-sdk virtualenv (created on first use)."""
    venv = _venv()
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / STAMP).exists() and _works(python):
            return python
        shutil.rmtree(venv, ignore_errors=True)
        base = getattr(sys, "_base_executable", None) or sys.executable
        for cmd in (
            [base, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", FLYTE_SPEC],
        ):
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=1200, env=fk_env(), check=False
            )
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                out = proc.stdout + proc.stderr
                tail = "\n".join(out.strip().splitlines()[-12:])
                if any(marker in out for marker in _OFFLINE):
                    _unavailable(f"cannot install {FLYTE_SPEC}: no package index reachable\n{tail}")
                pytest.fail(f"installing {FLYTE_SPEC} into {venv} failed:\n{tail}", pytrace=False)
        if not _works(python):
            pytest.fail(f"{venv} was created but does not import flyte 2.12.1", pytrace=False)
        (venv / STAMP).write_text(f"{FLYTE_SPEC}\n")
    return python


def _outcomes(python: str, sdk: str, cwd: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [python, str(SCRIPT), sdk],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, (
        f"{sdk} cases failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    )
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def outcomes(flyte_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    ref_dir = tmp_path_factory.mktemp("flyte-cases")
    shim_dir = tmp_path_factory.mktemp("shim-cases")
    ref_env = fk_env()
    ref_env["HOME"] = str(ref_dir)  # flyte's local runs keep their metadata under HOME/tmp
    shim_env = dict(os.environ)
    shim_env["SHIM_LOCAL_STORE"] = str(shim_dir / "runs")
    shim_env["PYTHONPATH"] = str(REPO)
    return {
        "flyte": _outcomes(str(flyte_python), "flyte", ref_dir, ref_env),
        "shim": _outcomes(sys.executable, "shim", shim_dir, shim_env),
    }


def test_both_sdks_ran_every_case(outcomes):
    assert set(outcomes["flyte"]) == set(outcomes["shim"])
    assert len(outcomes["shim"]) >= 62
    assert set(FIXES) <= set(outcomes["shim"])
    assert not [k for k in outcomes["shim"] if k.startswith("fix_") and k not in FIXES]


def test_same_results_where_no_fix_is_marked(outcomes):
    differ = {
        case: {"flyte": ref, "shim": outcomes["shim"][case]}
        for case, ref in outcomes["flyte"].items()
        if case not in FIXES and outcomes["shim"][case] != ref
    }
    assert not differ, json.dumps(differ, indent=1)


@pytest.mark.parametrize("case", sorted(FIXES))
def test_each_fix_is_a_failure_of_the_reference(outcomes, case):
    reference, shimkit = FIXES[case]
    assert outcomes["flyte"][case] == reference, "the reference no longer shows the defect"
    assert outcomes["shim"][case] == shimkit
