"""WIRE.md section 4: every error document shimkit's entrypoint writes parses in flytekit's world.

Each row's failure is produced for real by ``shim execute`` in its own process; one flytekit
process then parses all the error.pb files with flyteidl's ``ErrorDocument`` and flytekit's
``flytekit.models.core.errors.ErrorDocument`` and reports code, kind and origin.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shim import idl
from tests.support import executors as ex
from tests.support.execute import Staged, shim_execute, stage_task
from tests.support.tasks import echo_task, make_task

pytestmark = pytest.mark.interop

UNREACHABLE_S3 = {
    "FLYTE_AWS_ENDPOINT": "http://127.0.0.1:9",
    "FLYTE_AWS_ACCESS_KEY_ID": "interop",
    "FLYTE_AWS_SECRET_ACCESS_KEY": "interop-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "SHIM_STORAGE_DEADLINE": "3",
    "SHIM_STORAGE_RETRIES": "2",
}


def _template_missing(root: Path) -> tuple[Staged, list[str], dict]:
    s = stage_task(echo_task(int), {"x": 1}, str(root))
    os.remove(s.stage.template)
    return s, s.args, {}


def _template_corrupt(root: Path) -> tuple[Staged, list[str], dict]:
    s = stage_task(echo_task(int), {"x": 1}, str(root))
    Path(s.stage.template).write_bytes(b"\xff\xfe not a protobuf \x00\x01")
    return s, s.args, {}


def _executor_not_importable(root: Path) -> tuple[Staged, list[str], dict]:
    s = stage_task(echo_task(int), {"x": 1}, str(root))
    return s, [*s.args[:-1], "no_such_package.module.Executor"], {}


def _inputs_mismatch(root: Path) -> tuple[Staged, list[str], dict]:
    s = stage_task(echo_task(int), {"x": 1}, str(root))
    lm = idl.LiteralMap()
    lm.literals["x"].scalar.primitive.string_value = "forty-two"
    Path(s.stage.inputs).write_bytes(idl.serialize(lm))
    return s, s.args, {}


def _executor_raised(root: Path) -> tuple[Staged, list[str], dict]:
    s = stage_task(make_task(ex.RaisesValueError, outputs={"y": int}), {}, str(root))
    return s, s.args, {}


def _executor_raised_recoverable(root: Path) -> tuple[Staged, list[str], dict]:
    s = stage_task(make_task(ex.RaisesRecoverable, outputs={"y": int}), {}, str(root))
    return s, s.args, {}


def _storage_unreachable(root: Path) -> tuple[Staged, list[str], dict]:
    s = stage_task(echo_task(int), {"x": 1}, str(root))
    args = list(s.args)
    args[args.index("--inputs") + 1] = "s3://interop-bucket/run/inputs.pb"
    return s, args, UNREACHABLE_S3


def _outputs_mismatch(root: Path) -> tuple[Staged, list[str], dict]:
    s = stage_task(make_task(ex.WrongOutputType, outputs={"y": int}), {}, str(root))
    return s, s.args, {}


@dataclass(frozen=True)
class Row:
    failure: str
    make: Callable[[Path], tuple[Staged, list[str], dict]]
    code: str
    kind: str
    origin: str


ROWS = {
    "template_missing": Row(
        "template missing", _template_missing, "USER:TemplateNotFound", "NON_RECOVERABLE", "USER"
    ),
    "template_corrupt": Row(
        "template corrupt", _template_corrupt, "USER:TemplateCorrupt", "NON_RECOVERABLE", "USER"
    ),
    "executor_not_importable": Row(
        "executor not importable",
        _executor_not_importable,
        "USER:ExecutorNotFound",
        "NON_RECOVERABLE",
        "USER",
    ),
    "inputs_mismatch": Row(
        "inputs don't match the interface",
        _inputs_mismatch,
        "USER:InputMismatch",
        "NON_RECOVERABLE",
        "USER",
    ),
    "executor_raised": Row(
        "executor raised", _executor_raised, "USER:ValueError", "NON_RECOVERABLE", "USER"
    ),
    "executor_raised_recoverable": Row(
        "executor raised a recoverable error type",
        _executor_raised_recoverable,
        "USER:FlakyError",
        "RECOVERABLE",
        "USER",
    ),
    "storage_unreachable": Row(
        "storage unreachable", _storage_unreachable, "SYSTEM:StorageError", "RECOVERABLE", "SYSTEM"
    ),
    "outputs_mismatch": Row(
        "outputs don't match the interface",
        _outputs_mismatch,
        "SYSTEM:OutputMismatch",
        "NON_RECOVERABLE",
        "SYSTEM",
    ),
}

KIND_VALUES = {"NON_RECOVERABLE": 0, "RECOVERABLE": 1}
ORIGIN_VALUES = {"UNKNOWN": 0, "USER": 1, "SYSTEM": 2}


@pytest.fixture(scope="module")
def parsed(fk, tmp_path_factory) -> dict[str, dict]:
    """Run every row's failure through ``shim execute``; parse all error.pb in flytekit."""
    paths: dict[str, str] = {}
    for name, row in ROWS.items():
        root = tmp_path_factory.mktemp(name)
        staged, args, env = row.make(root)
        proc = shim_execute(args, env=env)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        error = Path(staged.outputs) / "error.pb"
        assert error.is_file(), f"{name}: no error.pb under {staged.outputs}\n{proc.stderr}"
        assert not (Path(staged.outputs) / "outputs.pb").exists(), name
        paths[name] = str(error)
    by_path = fk.json("fk_errors.py", *paths.values())
    return {name: by_path[path] for name, path in paths.items()}


@pytest.mark.parametrize("row", list(ROWS))
def test_error_document_parses_in_flytekit(row, parsed):
    expected = ROWS[row]
    doc = parsed[row]
    assert (doc["code"], doc["kind"], doc["origin"]) == (
        expected.code,
        expected.kind,
        expected.origin,
    ), f"{expected.failure}: {json.dumps(doc, indent=1)[:3000]}"
    # flytekit's own model reads the same values
    assert doc["model"]["code"] == expected.code
    assert doc["model"]["kind"] == KIND_VALUES[expected.kind]
    assert doc["model"]["origin"] == ORIGIN_VALUES[expected.origin]
    # flytekit's message layout, and a timestamp
    assert doc["message"].startswith("Trace:\n\n"), doc["message"][:200]
    assert "\n\nMessage:\n\n    " in doc["message"]
    assert doc["has_timestamp"]
