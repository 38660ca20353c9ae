"""TaskTemplate.override: new instance, fixed fields, reusable rules, falsy values apply."""

from __future__ import annotations

import datetime as dt

import pytest

from shim import Cache, Resources, ReusePolicy, Secret, TaskTemplate
from shim.task.interface import NativeInterface


def base(**kw) -> TaskTemplate:
    return TaskTemplate(
        name="pkg.mod.task", interface=NativeInterface({"x": int}, {"y": int}), **kw
    )


def test_defaults_follow_flyte_sdk():
    t = base()
    assert t.short_name == "task"
    assert t.task_type == "python" and t.task_type_version == 0
    assert t.max_inline_io_bytes == 10 * 1024 * 1024
    assert t.retries == 0 and t.interruptible is False and t.reusable is None
    assert t.cache == "disable" and t.report is False and t.debuggable is False


def test_override_returns_new_instance_and_leaves_original():
    t = base(retries=3, env_vars={"A": "1"})
    o = t.override(retries=5, env_vars={"B": "2"}, queue="q", interruptible=True)
    assert o is not t
    assert (o.retries, o.env_vars, o.queue, o.interruptible) == (5, {"B": "2"}, "q", True)
    assert (t.retries, t.env_vars, t.queue, t.interruptible) == (3, {"A": "1"}, None, False)


@pytest.mark.parametrize("field", ["name", "image", "docs", "interface"])
def test_fixed_fields_raise_value_error(field):
    with pytest.raises(ValueError, match=field):
        base().override(**{field: "anything"})


def test_unknown_override_is_type_error():
    with pytest.raises(TypeError, match="nonsense"):
        base().override(nonsense=1)


def test_explicit_falsy_values_override():
    t = base(retries=4, env_vars={"A": "1"}, interruptible=True, secrets=[Secret("g", "k")])
    o = t.override(retries=0, env_vars={}, interruptible=False, secrets=[])
    assert o.retries == 0 and o.env_vars == {} and o.interruptible is False
    assert o.secret_list == []
    assert t.retries == 4 and t.env_vars == {"A": "1"}


def test_reusable_task_rejects_resources_env_secrets_without_off():
    t = base(reusable=ReusePolicy(replicas=2))
    for kw in (
        {"resources": Resources(cpu=2)},
        {"env_vars": {"A": "1"}},
        {"secrets": [Secret("g")]},
    ):
        with pytest.raises(ValueError, match="reusable='off'"):
            t.override(**kw)
    o = t.override(resources=Resources(cpu=2), env_vars={"A": "1"}, reusable="off")
    assert o.reusable is None and o.resources == Resources(cpu=2)
    assert t.reusable == ReusePolicy(replicas=2) and t.resources is None


def test_reusable_allows_other_overrides():
    t = base(reusable=ReusePolicy())
    assert t.override(retries=2, timeout=dt.timedelta(minutes=1)).retries == 2


def test_bad_values_are_value_errors():
    with pytest.raises(ValueError, match="retries"):
        base().override(retries=-1)
    with pytest.raises(ValueError, match="cache"):
        base().override(cache="sometimes")
    with pytest.raises(ValueError, match="max_inline_io_bytes"):
        base().override(max_inline_io_bytes=0)
    with pytest.raises(ValueError, match="reusable"):
        base().override(reusable="on")
    with pytest.raises(ValueError, match="name"):
        TaskTemplate(name="")


def test_override_cache_policy():
    o = base().override(cache=Cache("auto", version="7"))
    assert o.cache_policy.enabled and o.cache_policy.version == "7"


def test_inputs_may_be_named_like_run_options():
    t = TaskTemplate(name="t", interface=NativeInterface({"runner": int, "store": str}, {}))
    assert list(t.interface.inputs) == ["runner", "store"]


def test_flyte_sdk_properties():
    t = base()
    assert t.native_interface is t.interface
    assert t.source_file and t.source_file.endswith("template.py")
