"""Serialization to flyteidl TaskTemplate: golden files, determinism, every setting."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format

from shim import Cache, Resources, ReusePolicy, Secret, Timeout, to_bytes, to_idl
from shim.runtime.template import TaskTemplateModel
from tests.support import executors as ex
from tests.support.tasks import make_task

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REPO = Path(__file__).resolve().parents[2]


def golden_task():
    return make_task(
        ex.TypedConfigExecutor,
        inputs={"limit": int, "name": str},
        outputs={"port_type": str, "port": int},
        name="tests.golden_task",
        task_config=ex.PortConfig(host="db.local", port=5432),
        resources=Resources(cpu=("500m", "1"), memory="1Gi"),
        env_vars={"B": "2", "A": "1"},
        secrets=[Secret("db", "password")],
        retries=2,
        timeout=Timeout(max_runtime=dt.timedelta(minutes=5)),
        interruptible=True,
        cache=Cache("auto", version="v1"),
    )


def check_golden(name: str, actual: object) -> None:
    path = GOLDEN / name
    text = json.dumps(actual, indent=2, sort_keys=True) + "\n"
    if os.environ.get("SHIM_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"golden file {path} missing (SHIM_UPDATE_GOLDEN=1 writes it)"
    assert json.loads(path.read_text()) == json.loads(text)


def test_golden_template():
    pb = to_idl(golden_task())
    as_dict = json_format.MessageToDict(pb, preserving_proto_field_name=True)
    as_dict["metadata"]["runtime"].pop("version")  # the shimkit version changes by release
    check_golden("golden_task.template.json", as_dict)


def test_golden_container_args():
    check_golden("golden_task.args.json", list(to_idl(golden_task()).container.args))


def test_container_args_follow_wire_contract():
    args = list(to_idl(golden_task()).container.args)
    assert args[0] == "pyflyte-execute"
    assert (
        args[args.index("--resolver") + 1] == "shim.runtime.resolver.default_task_template_resolver"
    )
    sep = args.index("--")
    assert args[sep + 1 :] == [
        "{{.taskTemplatePath}}",
        "tests.support.executors.TypedConfigExecutor",
    ]
    for flag, var in [
        ("--inputs", "{{.input}}"),
        ("--output-prefix", "{{.outputPrefix}}"),
        ("--raw-output-data-prefix", "{{.rawOutputDataPrefix}}"),
        ("--checkpoint-path", "{{.checkpointOutputPrefix}}"),
        ("--prev-checkpoint", "{{.prevCheckpointPrefix}}"),
    ]:
        assert args[args.index(flag) + 1] == var
    assert not to_idl(golden_task()).container.command


def test_same_task_same_bytes_across_processes():
    here = hashlib.sha256(to_bytes(golden_task())).hexdigest()
    assert here == hashlib.sha256(to_bytes(golden_task())).hexdigest()
    code = (
        "import hashlib; from shim import to_bytes; from tests.unit.test_serialize import "
        "golden_task; print(hashlib.sha256(to_bytes(golden_task())).hexdigest())"
    )
    for seed in ("1", "2", "3"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONHASHSEED=seed),
            check=True,
        )
        assert out.stdout.strip() == here


def test_settings_land_in_the_template():
    pb = to_idl(golden_task())
    assert pb.type == "shim-test" and pb.id.name == "tests.golden_task"
    assert [(e.key, e.value) for e in pb.container.env] == [("A", "1"), ("B", "2")]
    assert pb.metadata.retries.retries == 2 and pb.metadata.interruptible
    assert pb.metadata.timeout.ToTimedelta() == dt.timedelta(minutes=5)
    assert pb.metadata.discoverable and pb.metadata.discovery_version == "v1"
    assert pb.security_context.secrets[0].group == "db"
    assert {r.value for r in pb.container.resources.requests} == {"500m", "1Gi"}
    assert [r.value for r in pb.container.resources.limits] == ["1"]
    assert set(pb.interface.inputs.variables) == {"limit", "name"}


def test_custom_struct_numbers_and_typed_decoding():
    pb = to_idl(golden_task())
    tt = TaskTemplateModel.from_bytes(pb.SerializeToString())
    assert tt.custom == {"host": "db.local", "port": 5432.0, "ratio": 0.5}
    assert isinstance(tt.custom["port"], float)  # what a Struct does to numbers


def test_empty_custom_is_unset():
    pb = to_idl(make_task(ex.NoOpExecutor))
    assert not pb.HasField("custom")


def test_auto_cache_version_follows_the_template():
    a = to_idl(make_task(ex.NoOpExecutor, cache="auto")).metadata.discovery_version
    b = to_idl(make_task(ex.NoOpExecutor, cache="auto", task_config={"q": 1}))
    assert a and a != b.metadata.discovery_version


def test_executor_must_be_importable_by_path():
    class Local(ex.NoOpExecutor):
        pass

    with pytest.raises(ValueError, match="importable"):
        make_task(Local)


# --- settings with and without a place in flyteidl 1.x (issue 9, item 14) -------------------


def _named(**kwargs):
    import uuid

    return make_task(ex.NoOpExecutor, name=f"tests.fields_{uuid.uuid4().hex[:8]}", **kwargs)


def test_report_travels_as_generates_deck():
    assert to_idl(_named(report=True)).metadata.generates_deck.value is True
    plain = to_idl(_named()).metadata
    assert not plain.HasField("generates_deck")  # unset: the bytes of other tasks unchanged


def test_report_is_read_back_from_the_wire():
    pb = to_idl(_named(report=True))
    tt = TaskTemplateModel.from_bytes(pb.SerializeToString())
    assert tt.pb.metadata.generates_deck.value is True


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("reusable", ReusePolicy(replicas=2), "no reuse policy"),
        ("queue", "gpu-pool", "has no queue"),
        ("debuggable", True, "no debuggable flag"),
    ],
)
def test_settings_that_cannot_travel_warn_once_by_name(field, value, why):
    import warnings

    from shim.task.serialize import DroppedFieldWarning

    task = _named(**{field: value})
    with pytest.warns(DroppedFieldWarning) as record:
        first = to_bytes(task)
    (w,) = record
    text = str(w.message)
    assert text.startswith(f"task {task.name!r}: {field}={value!r} is not in the serialized")
    assert why in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second serialization (a second local call) is quiet
        assert to_bytes(task) == first
    plain = copy.copy(task)
    plain.reusable, plain.queue, plain.debuggable = None, None, False
    assert to_bytes(plain) == first  # the setting is indeed absent from the wire


def test_tasks_without_those_settings_do_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_bytes(_named(queue="", report=True))
        to_bytes(_named(debuggable=False))
