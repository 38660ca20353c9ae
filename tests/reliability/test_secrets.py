"""Secrets (WIRE.md section 5) are resolved from ``_FSEC_<GROUP>_<KEY>`` or the secrets
directory and never printed: every byte of output, log and document is scanned for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shim.testing import SecretScanner, assert_no_secret, task_fails
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
    """The secret, in no form, in the output or in a file the run wrote (except its own)."""
    assert_no_secret(SECRET, tmp_path / "run", stdout=proc.stdout, stderr=proc.stderr)


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


# --- multi-line secrets, escaped forms, nested exceptions, the supervisor's tail ----------------

#: a PEM private key, as ``_FSEC_GCP_KEY`` holds it (made up: 4 lines of body)
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n"
    "qgtzJ6GR3eqoYSW9b9UMvkBpZODSctWSNGj3P7jRFDO5VoTwCQAWbFnOjDfH5Ulg\n"
    "-----END PRIVATE KEY-----\n"
)
#: a token full of regular-expression syntax
TOKEN = r"tk.9*(a|b)+[x-z]{2}^$\d?.end-7f3c"


def leak_run(tmp_path: Path, secret: str, mode: str, supervise: bool, source: str = "env"):
    task = make_task(
        rex.LeaksSecret, inputs={"group": str, "key": str, "mode": str}, outputs={"n": int}
    )
    s = stage_task(task, {"group": "gcp", "key": "key", "mode": mode}, str(tmp_path / "run"))
    secrets_dir = tmp_path / "secrets"
    env = {"FLYTE_SECRETS_DEFAULT_DIR": str(secrets_dir)}
    if source == "env":
        env["_FSEC_GCP_KEY"] = secret
    else:
        (secrets_dir / "gcp").mkdir(parents=True)
        (secrets_dir / "gcp" / "key").write_text(secret)
    return s, run_execute(s.args, env, supervise=supervise)


def assert_clean(texts: dict[str, str], secret: str) -> None:
    """No form of the secret (each line of it, the value, escaped) in any of ``texts``."""
    SecretScanner(secret).check(**texts)


def run_files(tmp_path: Path) -> dict[str, str]:
    root = tmp_path / "run"
    return {rel: (root / rel).read_bytes().decode("utf-8", "replace") for rel in files_under(root)}


@pytest.mark.parametrize("supervise", [False, True])
@pytest.mark.parametrize(
    "secret, mode, source",
    [
        (PEM, "message", "env"),
        (PEM, "message", "dir"),
        (PEM, "repr", "env"),
        (PEM, "nested", "env"),
        (TOKEN, "message", "env"),
        (TOKEN, "repr", "dir"),
        (TOKEN, "nested", "env"),
    ],
)
def test_secret_pieces_never_leave(tmp_path, secret, mode, source, supervise):
    """A multi-line key raised as is, as its repr, or from an inner exception (``raise ...
    from``), and a token with regex characters: not one line of it in error.pb, stdout or
    stderr, supervised or not; the rest of the message is intact."""
    s, proc = leak_run(tmp_path, secret, mode, supervise, source)
    assert proc.returncode == 0, proc.stderr
    code = "USER:RuntimeError" if mode == "nested" else "USER:ValueError"
    assert classification(s.outputs) == (code, "NON_RECOVERABLE", "USER")
    msg = error_message(s.outputs)
    assert_clean({"stdout": proc.stdout, "stderr": proc.stderr, **run_files(tmp_path)}, secret)
    if mode == "nested":
        assert "could not connect to the warehouse" in msg
        assert "handshake failed for credential [redacted]" in msg
    else:
        assert "cannot sign with key " in msg and "[redacted]" in msg


@pytest.mark.parametrize("secret", [PEM, TOKEN])
@pytest.mark.parametrize("mode", ["print-die", "long-line-die"])
def test_secret_in_the_supervisors_tail_is_redacted(tmp_path, secret, mode):
    """The worker prints the secret (over several lines, or on one line that the tail's
    500-character limit cuts inside the secret) and is killed: the supervisor's error document
    quotes the last lines of output without a piece of it. (What the executor prints itself
    passes through to stderr unchanged: its output is its own.)"""
    s, proc = leak_run(tmp_path, secret, mode, True)
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs)[0] == "SYSTEM:WorkerKilled"
    msg = error_message(s.outputs)
    assert "[redacted]" in msg
    if mode == "long-line-die":
        assert "x" * 490 + "[redacted]" in msg
    assert_clean(run_files(tmp_path), secret)
    tail = proc.stderr.strip().splitlines()[-1]  # the supervisor's own line
    assert "SYSTEM:WorkerKilled" in tail
    assert_clean({"supervisor line": tail}, secret)


@pytest.mark.parametrize("shim_runner", ["inprocess", "subprocess"], indirect=True)
@pytest.mark.parametrize("mode", ["message", "nested"])
def test_local_caller_never_sees_a_secret(tmp_path, monkeypatch, shim_run, secret_scanner, mode):
    """In-process and subprocess runs: neither the TaskFailedError (str, message) nor what
    is printed nor a file of the run carries a line of the key."""
    monkeypatch.setenv("FLYTE_SECRETS_DEFAULT_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("_FSEC_GCP_KEY", secret_scanner.add(PEM))
    task = make_task(
        rex.LeaksSecret, inputs={"group": str, "key": str, "mode": str}, outputs={"n": int}
    )
    code = "USER:RuntimeError" if mode == "nested" else "USER:ValueError"
    with task_fails(code=code, kind="NON_RECOVERABLE", message="[redacted]") as failure:
        shim_run(task, group="gcp", key="key", mode=mode)
    secret_scanner.check(str=str(failure[0]), message=failure[0].error_message)
