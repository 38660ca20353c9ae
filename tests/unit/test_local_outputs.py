"""What a local call returns for any output names; run options kept apart from inputs."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

import shim
from shim import Outputs
from shim.local.runs import RunStore
from tests.support import executors as ex
from tests.support.tasks import echo_task, make_task


@pytest.fixture(autouse=True)
def _store(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("SHIM_RUNNER", raising=False)
    return tmp_path / "store"


ODD_NAMES = ["class", "_private", "my output", "count", "names", "3d", "__len__"]


def by_name(*names: str):
    return make_task(ex.NameAsValue, outputs={n: str for n in names}, name="tests.by_name")


def test_any_legal_output_names_come_back():
    out = by_name(*ODD_NAMES)()
    assert isinstance(out, Outputs)
    assert tuple(out) == tuple(ODD_NAMES)  # declaration order
    assert out == tuple(ODD_NAMES)  # equal to the tuple of its values
    for i, name in enumerate(ODD_NAMES):
        assert out[name] == name
        assert out[i] == name
    assert getattr(out, "class") == "class"
    assert out._private == "_private"
    assert out.count == "count"  # an output's name wins over tuple.count, as in a namedtuple
    assert out.names == "names"
    assert len(out) == len(ODD_NAMES)  # dunder names never shadow the protocol
    assert out["__len__"] == "__len__"
    assert Outputs.names(out) == tuple(ODD_NAMES)
    assert Outputs.as_dict(out) == {n: n for n in ODD_NAMES}


def test_unpacking_and_repr():
    t = by_name("first", "class", "a b")
    first, klass, ab = t()
    assert (first, klass, ab) == ("first", "class", "a b")
    assert repr(t()) == "Outputs(first='first', class='class', 'a b'='a b')"


def test_unknown_output_names_are_clear():
    out = by_name("a", "b")()
    with pytest.raises(AttributeError, match=r"no output 'c'; the outputs are \['a', 'b'\]"):
        _ = out.c
    with pytest.raises(KeyError, match="no output 'c'"):
        _ = out["c"]
    with pytest.raises(AttributeError, match="read-only"):
        out.a = 5


def test_outputs_pickle_and_copy():
    out = by_name(*ODD_NAMES)()
    for again in (pickle.loads(pickle.dumps(out)), copy.copy(out), copy.deepcopy(out)):
        assert again == out and Outputs.names(again) == tuple(ODD_NAMES)
        assert getattr(again, "class") == "class"


def test_namedtuple_compatible_fields():
    out = by_name("a", "b")()
    assert out._fields == ("a", "b")
    assert out._asdict() == {"a": "a", "b": "b"}


# --- run options apart from inputs ----------------------------------------------------------


def echo_named(name: str):
    return make_task(ex.EchoExecutor, inputs={name: str}, outputs={"y": str}, name=f"t.{name}")


@pytest.mark.parametrize("name", ["runner", "store", "name", "timeout", "task"])
def test_input_named_like_a_run_option_is_an_input(name, _store):
    t = echo_named(name)
    assert shim.run(t, **{name: "container"}) == "container"
    assert shim.with_runcontext(runner="inprocess").run(t, **{name: "x"}) == "x"
    if name in ("runner", "store"):  # the call form passes them to the task as inputs too
        assert t(**{name: "container"}) == "container"
    records = RunStore(str(_store)).list()
    assert {r.runner for r in records} == {"inprocess"}


def test_with_runcontext_options_apply(_store, tmp_path):
    t = echo_named("runner")
    other = tmp_path / "other-store"
    ctx = shim.with_runcontext(runner="subprocess", store=str(other), name="nightly", timeout=60)
    assert ctx.run(t, "inprocess") == "inprocess"  # positional inputs bind in order
    record = RunStore(str(other)).get("nightly")
    assert (record.runner, record.status, record.task) == ("subprocess", "succeeded", "t.runner")
    assert RunStore(str(_store)).list() == []


def test_call_form_keeps_working_for_tasks_without_clashes(_store):
    t = echo_task(int)
    assert t(x=4, runner="subprocess") == 4
    assert [r.runner for r in RunStore(str(_store)).list()] == ["subprocess"]


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"runner": "cloud"}, "runner must be one of"),
        ({"name": "../up"}, "run name '../up' is not allowed"),
        ({"name": ""}, "run name '' is not allowed"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": "10"}, "timeout must be a positive number"),
    ],
)
def test_bad_run_options_fail_before_running(kwargs, needle, _store):
    with pytest.raises(ValueError, match=needle):
        shim.with_runcontext(**kwargs)
    assert not _store.exists()


def test_run_needs_a_task():
    with pytest.raises(TypeError, match="needs a shimkit task"):
        shim.run(json.dumps, 1)


def test_run_binds_and_checks_inputs_like_a_call():
    t = echo_task(int)
    assert shim.run(t, 9) == 9
    with pytest.raises(TypeError, match="unexpected inputs"):
        shim.run(t, x=1, runner="inprocess")  # not a run option here: use with_runcontext
