"""shim.testing as a task author meets it: a test file run by pytest (in a fresh process, the
plugin loaded by its entry point), its runners, its assertions and its secret scanner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from shim.errors import TaskFailedError
from shim.testing import SecretScanner, assert_task_failed, task_fails

REPO = Path(__file__).resolve().parents[2]

AUTHOR_TESTS = """
import pytest
from shim.testing import task_fails
from tests.support import executors as ex
from tests.support.tasks import make_task

echo = make_task(ex.EchoExecutor, inputs={"x": int}, outputs={"y": int}, name="pl.echo")
fails = make_task(ex.RaisesValueError, outputs={"y": int}, name="pl.fails")
SECRET = "pl-s3cret-value-42"


def test_echo(shim_run):
    assert shim_run(echo, x=3) == 3
    assert shim_run.last_run is not None and (shim_run.last_run / "task.pb").is_file()


def test_fails(shim_run):
    with task_fails(code="USER:ValueError", reason="bad value in user logic"):
        shim_run(fails)


def test_expects_a_failure_that_does_not_come(shim_run):
    with task_fails(code="USER:ValueError"):
        shim_run(echo, x=1)


def test_prints_a_secret(secret_scanner):
    secret_scanner.add(SECRET)
    print("connecting with", repr({"password": SECRET}))


def test_keeps_a_secret(secret_scanner):
    secret_scanner.add(SECRET)
    print("connecting with [redacted]")
"""


def run_author_tests(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    (tmp_path / "test_author.py").write_text(AUTHOR_TESTS)
    report = tmp_path / "report.xml"
    full = {k: v for k, v in os.environ.items() if k not in ("SHIM_REQUIRE_CONTAINERS", "CI")}
    full.update(PYTHONPATH=str(REPO), SHIM_LOCAL_STORE=str(tmp_path / "store"), **(env or {}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            f"--junitxml={report}",
            "test_author.py",
            *args,
        ],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=600,
    )
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        status, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed"}.get(child.tag, child.tag)
                message = child.get("message", "") + (child.text or "")
        results[case.get("name")] = (status, message)
    return proc, results


def test_a_test_using_shim_run_runs_once_per_runner(tmp_path):
    _, results = run_author_tests(
        tmp_path, "-k", "echo", env={"DOCKER_HOST": "unix:///nonexistent/engine.sock"}
    )
    assert {k: v[0] for k, v in results.items()} == {
        "test_echo[inprocess]": "passed",
        "test_echo[subprocess]": "passed",
        "test_echo[container]": "skipped",  # no engine there
    }
    assert "cannot reach a container engine" in results["test_echo[container]"][1]


def test_no_engine_fails_when_containers_are_required(tmp_path):
    _, results = run_author_tests(
        tmp_path,
        "-k",
        "echo",
        "--shim-runner",
        "container",
        env={"DOCKER_HOST": "unix:///nonexistent/engine.sock", "SHIM_REQUIRE_CONTAINERS": "1"},
    )
    status, message = results["test_echo[container]"]
    assert status in ("failed", "error") and "containers required" in message


def test_assertions_and_the_secret_scanner(tmp_path):
    _, results = run_author_tests(tmp_path, "--shim-runner", "inprocess")
    status = {k: v[0] for k, v in results.items()}
    assert status == {
        "test_echo[inprocess]": "passed",
        "test_fails[inprocess]": "passed",
        "test_expects_a_failure_that_does_not_come[inprocess]": "failed",
        "test_prints_a_secret": "error",  # found when the test ends, in its teardown
        "test_keeps_a_secret": "passed",
    }
    assert (
        "the task did not fail (expected USER:ValueError)"
        in (results["test_expects_a_failure_that_does_not_come[inprocess]"][1])
    )
    assert "a secret leaked" in results["test_prints_a_secret"][1]
    assert "stdout: contains 'pl-s3cret-value-42'" in results["test_prints_a_secret"][1]


def test_assert_task_failed_names_every_difference():
    e = TaskFailedError("USER:KeyError", "NON_RECOVERABLE", "USER", "Message:\n\n    KeyError: 'k'")
    assert assert_task_failed(e, code="USER:KeyError", reason="'k'") is e
    with pytest.raises(AssertionError) as info:
        assert_task_failed(e, code="USER:ValueError", kind="RECOVERABLE", origin="SYSTEM")
    text = str(info.value)
    assert "code 'USER:KeyError', expected 'USER:ValueError'" in text
    assert "kind 'NON_RECOVERABLE', expected 'RECOVERABLE'" in text
    assert "origin 'USER', expected 'SYSTEM'" in text
    with pytest.raises(AssertionError, match="expected a TaskFailedError, got ValueError"):
        assert_task_failed(ValueError("x"))
    with pytest.raises(ValueError), task_fails():
        raise ValueError("not a task failure: it passes through")


SPECIAL = "pa ss'w\u00f6rd\"x9"  # a space, both quotes and a non-ASCII letter


@pytest.mark.parametrize(
    "text",
    [
        f"login failed: {SPECIAL}",
        repr({"password": SPECIAL}),
        json.dumps({"password": SPECIAL}),
        json.dumps({"password": SPECIAL}, ensure_ascii=False),
        f"postgresql://u:{quote(SPECIAL, safe='')}@h/db",
        f"q={quote_plus(SPECIAL)}",
    ],
)
def test_the_scanner_finds_every_form(tmp_path, text):
    scanner = SecretScanner(SPECIAL)
    assert scanner.scan_text(text), text
    (tmp_path / "run" / "outputs").mkdir(parents=True)
    (tmp_path / "run" / "outputs" / "error.pb").write_bytes(b"\x0a\x05" + text.encode())
    with pytest.raises(AssertionError, match=r"error\.pb: contains"):
        scanner.check(tmp_path / "run")
    scanner.check(tmp_path / "nothing-here", stderr="all clean")
    scanner.check(stdout="pa ss", stderr="w\u00f6rd")  # parts of a one-line value are not forms


def test_each_line_of_a_multi_line_secret_is_a_form():
    scanner = SecretScanner("-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----\n")
    assert [leak.form for leak in scanner.scan_text("...MIIEvQIBADANBgkq...")] == [
        "MIIEvQIBADANBgkq"
    ]
