"""Secrets (WIRE.md section 5) are resolved from ``_FSEC_<GROUP>_<KEY>`` or the secrets
directory and never printed: every byte of output, log and document is scanned for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import executors as rex
from tests.reliability.helpers import (
    classification,
    error_message,
    files_under,
    make_task,
    read_outputs,
    run_execute,
)
from tests.support.execute import stage_task

SECRET = "s3cr3t-Ünïcode-7f1c9a"  # distinctive, so a scan cannot miss it


def run_with_secret(tmp_path: Path, mode: str, source: str, supervise: bool):
    task = make_task(
        rex.UsesSecret, inputs={"group": str, "key": str, "mode": str}, outputs={"n": int}
    )
    s = stage_task(task, {"group": "db", "key": "password", "mode": mode}, str(tmp_path / "run"))
    secrets_dir = tmp_path / "secrets"
    env = {"FLYTE_SECRETS_DEFAULT_DIR": str(secrets_dir), "SHIM_TIMINGS": "1"}
    if source == "env":
        env["_FSEC_DB_PASSWORD"] = SECRET
    else:
        (secrets_dir / "db").mkdir(parents=True)
        (secrets_dir / "db" / "password").write_text(SECRET + "\n")
    proc = run_execute(s.args, env, supervise=supervise)
    return s, proc


def scan(tmp_path: Path, proc) -> None:
    """The secret appears in no output and in no file the run wrote (except its own file)."""
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    needle = SECRET.encode()
    for rel in files_under(tmp_path / "run"):
        assert needle not in (tmp_path / "run" / rel).read_bytes(), rel


@pytest.mark.parametrize("supervise", [False, True])
@pytest.mark.parametrize("source", ["env", "dir"])
def test_secret_used_successfully(tmp_path, source, supervise):
    s, proc = run_with_secret(tmp_path, "ok", source, supervise)
    assert proc.returncode == 0, proc.stderr
    assert read_outputs(s.outputs).literals["n"].scalar.primitive.integer == len(SECRET)
    scan(tmp_path, proc)


@pytest.mark.parametrize("source", ["env", "dir"])
def test_failure_after_reading_a_secret(tmp_path, source):
    s, proc = run_with_secret(tmp_path, "fail", source, False)
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:RuntimeError", "NON_RECOVERABLE", "USER")
    scan(tmp_path, proc)


@pytest.mark.parametrize("supervise", [False, True])
@pytest.mark.parametrize("source", ["env", "dir"])
def test_secret_in_an_exception_message_is_redacted(tmp_path, source, supervise):
    """The executor puts the secret in its exception: the runtime's traceback on stderr and
    the error document carry ``[redacted]`` instead."""
    s, proc = run_with_secret(tmp_path, "leak", source, supervise)
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:PermissionError", "NON_RECOVERABLE", "USER")
    assert "login failed with password '[redacted]'" in error_message(s.outputs)
    assert "[redacted]" in proc.stderr
    scan(tmp_path, proc)


def test_missing_secret_names_where_it_looked_not_a_value(tmp_path):
    task = make_task(
        rex.UsesSecret, inputs={"group": str, "key": str, "mode": str}, outputs={"n": int}
    )
    s = stage_task(task, {"group": "db", "key": "password", "mode": "ok"}, str(tmp_path / "run"))
    proc = run_execute(
        s.args, {"FLYTE_SECRETS_DEFAULT_DIR": str(tmp_path / "none"), "_FSEC_DB_OTHER": SECRET}
    )
    assert proc.returncode == 0
    assert classification(s.outputs) == ("USER:SecretNotFound", "NON_RECOVERABLE", "USER")
    msg = error_message(s.outputs)
    assert "_FSEC_DB_PASSWORD" in msg and str(tmp_path / "none" / "db" / "password") in msg
    scan(tmp_path, proc)
