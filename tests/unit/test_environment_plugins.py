"""TaskEnvironment (EXTENSION.md section 1) and TaskPluginRegistry (section 3), shimkit side.

tests/interop/test_extension_crosscheck.py runs the same cases against flyte-sdk too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

import shim
from examples.plugins.echo import EchoConfig, EchoTask
from examples.plugins.scratch_db import ScratchDB, ScratchDBTask
from shim import Resources, ReusePolicy, Secret, TaskEnvironment, TaskPluginRegistry, to_idl
from shim.errors import TaskDefinitionError
from shim.extend import AsyncFunctionTaskTemplate
from shim.task.plugins import PluginRegistry
from shim.task.serialize import DroppedFieldWarning
from tests.support import executors as ex
from tests.support.tasks import make_task


def ident(x: int) -> int:
    return x


async def aident(x: int) -> int:
    return x


# --- section 1: the environment ------------------------------------------------------------


@pytest.mark.parametrize("name", ["Bad", "a b", "x_", "-x", "a__b", ""])
def test_environment_names(name):
    with pytest.raises(ValueError, match="snake_case or kebab-case"):
        TaskEnvironment(name=name)


def test_decorator_bare_and_with_arguments():
    env = TaskEnvironment(name="etl-2", retries=1)
    t1 = env.task(ident)
    t2 = env.task(retries=4, short_name="two")(aident)
    assert (t1.name, t1.short_name, t1.retries) == ("etl-2.ident", "ident", 1)
    assert (t2.name, t2.short_name, t2.retries) == ("etl-2.aident", "two", 4)
    assert env.tasks == {"etl-2.ident": t1, "etl-2.aident": t2}
    assert t1.parent_env() is env and t1.parent_env_name == "etl-2"


@pytest.mark.parametrize("kw", ["resources", "env_vars", "secrets"])
def test_environment_level_only_settings(kw):
    with pytest.raises(TypeError, match=kw):
        TaskEnvironment(name="e").task(**{kw: None})


def test_settings_flow_and_explicit_values_win():
    env = TaskEnvironment(
        name="flow",
        resources=Resources(cpu="2"),
        env_vars={"A": "1"},
        secrets=[Secret("db", "pw")],
        cache="auto",
        interruptible=True,
        queue="gpu",
        service_account="sa",
        timeout=30,
        image="ghcr.io/me/img:1",
    )
    t = env.task(ident)
    assert (t.resources, t.env_vars, t.cache, t.interruptible, t.queue) == (
        Resources(cpu="2"),
        {"A": "1"},
        "auto",
        True,
        "gpu",
    )
    assert t.image == "ghcr.io/me/img:1" and t.timeout == 30
    with pytest.warns(DroppedFieldWarning, match="queue='gpu'"):  # flyteidl 1.x has no queue
        pb = to_idl(t)
    assert pb.security_context.run_as.k8s_service_account == "sa"
    assert pb.metadata.interruptible and pb.metadata.discoverable
    u = env.task(interruptible=False, queue="", cache="disable", timeout=None)(aident)
    assert (u.interruptible, u.queue, u.cache, u.timeout) == (False, "", "disable", None)


def test_env_vars_are_copied():
    d = {"A": "1"}
    env = TaskEnvironment(name="copy", env_vars=d)
    t = env.task(ident)
    d["B"] = "2"
    env.env_vars["C"] = "3"
    t.env_vars["D"] = "4"
    assert t.env_vars == {"A": "1", "D": "4"} and env.env_vars == {"A": "1", "C": "3"}
    assert env.task(aident).env_vars == {"A": "1", "C": "3"}


def test_bad_cache_fails_at_the_environment():
    with pytest.raises(ValueError, match="cache must be one of"):
        TaskEnvironment(name="c", cache="always")
    with pytest.raises(ValueError, match="cache must be one of"):
        TaskEnvironment(name="c").task(cache="sometimes")


def test_dependencies_duplicates_and_cycles():
    a, b, c = (TaskEnvironment(name=n) for n in "abc")
    b.add_dependency(c)
    a.add_dependency(b, b)
    a.add_dependency(b)
    assert a.depends_on == [b]
    assert [e.name for e in a.dependencies()] == ["c", "b"]
    with pytest.raises(ValueError, match=r"cycle \(c -> a -> b -> c\)"):
        c.add_dependency(a)
    with pytest.raises(ValueError, match="itself"):
        a.add_dependency(a)
    with pytest.raises(TypeError, match="environments only"):
        a.add_dependency("b")
    c.depends_on.append(a)  # a cycle made behind add_dependency's back
    with pytest.raises(ValueError, match="cycle: a -> b -> c -> a"):
        a.dependencies()


def test_clone_with_accepts_every_field():
    base = TaskEnvironment(name="base", env_vars={"A": "1"}, cache="auto")
    c = base.clone_with(
        "clone", queue="q", interruptible=True, plugin_config=None, retries=2, description="d"
    )
    assert (c.name, c.queue, c.interruptible, c.retries, c.env_vars, c.cache) == (
        "clone",
        "q",
        True,
        2,
        {"A": "1"},
        "auto",
    )
    assert c.env_vars is not base.env_vars and c.tasks == {}
    with pytest.raises(TypeError, match="unknown settings"):
        base.clone_with("x", colour="red")


def test_reusable_rules_at_decoration():
    env = TaskEnvironment(name="reuse", reusable=ReusePolicy(replicas=2, concurrency=4))
    with pytest.raises(ValueError, match="sync function cannot run in reusable"):
        env.task(ident)
    assert env.task(aident).reusable.concurrency == 4
    with pytest.raises(ValueError, match="pod_template"):
        env.task(pod_template="p")
    with pytest.raises(ValueError, match="service_account"):
        env.task(service_account="other")
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        ReusePolicy(concurrency=0)


def test_reusable_override_rules():
    t = TaskEnvironment(name="reuse", reusable=ReusePolicy()).task(aident)
    for kw in (
        {"resources": Resources(cpu="1")},
        {"env_vars": {}},
        {"secrets": "s"},
        {"service_account": "x"},
    ):
        with pytest.raises(ValueError, match="reusable='off'"):
            t.override(**kw)
    o = t.override(resources=Resources(cpu="1"), env_vars={}, reusable="off")
    assert o.reusable is None and o.env_vars == {} and t.reusable is not None


@pytest.mark.parametrize(
    "make",
    [
        lambda: TaskEnvironment(name="o", queue="q", env_vars={"A": "1"}).task(
            retries=3, timeout=10
        )(ident),
        lambda: make_task(
            ex.NoOpExecutor,
            retries=3,
            timeout=10,
            queue="q",
            env_vars={"A": "1"},
            interruptible=True,
        ),
    ],
    ids=["function", "prebuilt"],
)
def test_override_applies_explicit_falsy_values(make):
    t = make()
    o = t.override(
        retries=0, timeout=0, env_vars={}, queue="", interruptible=False, cache="disable"
    )
    assert (o.retries, o.timeout, o.env_vars, o.queue, o.interruptible) == (0, 0, {}, "", False)
    assert (t.retries, t.timeout, t.env_vars, t.queue) == (3, 10, {"A": "1"}, "q")
    pb = to_idl(o)
    assert pb.metadata.retries.retries == 0 and pb.metadata.timeout.ToSeconds() == 0
    assert list(pb.container.env) == []
    with pytest.raises(ValueError, match="cannot be overridden"):
        t.override(name="x")


def test_override_keeps_parent_env():
    env = TaskEnvironment(name="keep")
    t = env.task(ident)
    o = t.override(timeout=dt.timedelta(seconds=5))
    assert o is not t and o.parent_env() is env and t.timeout is None


def test_env_add_keeps_working_for_prebuilt_tasks():
    env = TaskEnvironment(name="prebuilt", retries=2, env_vars={"A": "1"})
    added = env.add(make_task(ex.NoOpExecutor))
    assert added.retries == 2 and added.env_vars == {"A": "1"}
    assert env.tasks == {added.name: added}


# --- section 3: plugins ---------------------------------------------------------------------------


def test_plugin_environment_builds_the_plugin_class():
    env = TaskEnvironment(name="echoes", plugin_config=EchoConfig(message="hi", repeat=2))
    t = env.task(ident)
    assert type(t) is EchoTask and t.task_type == "echo"
    pb = to_idl(t)
    assert pb.type == "echo" and dict(pb.custom) == {"message": "hi", "repeat": 2.0}


def test_unregistered_config_fails_at_the_environment():
    @dataclass
    class Nobody:
        pass

    with pytest.raises(ValueError, match="no task plugin is registered for the config type"):
        TaskEnvironment(name="nobody", plugin_config=Nobody())


def test_override_plugin_config_rebuilds_keeping_explicit_fields():
    t = TaskEnvironment(name="plain", queue="q").task(retries=2)(ident)
    o = t.override(plugin_config=EchoConfig(message="over"))
    assert type(t) is AsyncFunctionTaskTemplate and type(o) is EchoTask
    assert (o.task_type, o.retries, o.queue, o.name, o.plugin_config.message) == (
        "echo",
        2,
        "q",
        "plain.ident",
        "over",
    )
    back = o.override(plugin_config=ScratchDB())
    assert type(back) is ScratchDBTask and back.task_type == "python-task"
    assert o.override(plugin_config=EchoConfig("x"), retries=0).retries == 0


def test_registry_duplicates_mro_and_bad_classes():
    reg = PluginRegistry()

    @dataclass
    class Base:
        pass

    @dataclass
    class Sub(Base):
        pass

    @dataclass(eq=False, kw_only=True)
    class P1(AsyncFunctionTaskTemplate):
        task_type: str = "p1"

    @dataclass(eq=False, kw_only=True)
    class P2(AsyncFunctionTaskTemplate):
        task_type: str = "p2"

    reg.register(Base, P1)
    reg.register(Base, P1)  # the same class again is fine
    assert reg.find(Sub) is P1 and reg.find(int) is None
    with pytest.raises(ValueError, match="already has the plugin"):
        reg.register(Base, P2)
    reg.register(Base, P2, override=True)
    assert reg.find(Base) is P2 and reg.list_plugins() == [Base]
    for bad in (object, shim.TaskTemplate, "P1", 3):
        with pytest.raises(TaskDefinitionError, match="must be a subclass of"):
            reg.register(Sub, bad)
    with pytest.raises(TaskDefinitionError, match="config type must be a class"):
        reg.register(Sub(), P1)


def test_process_registry_lists_the_examples():
    assert {EchoConfig, ScratchDB} <= set(TaskPluginRegistry.list_plugins())
    assert "EchoConfig" in repr(TaskPluginRegistry)


def test_scratch_db_plugin_pre_and_post(tmp_path):
    import json

    from examples.plugins.tasks import count_rows, greet

    store = tmp_path / "runs"
    assert shim.run_task(count_rows, {"n": 7}, store=str(store)) == 7
    (outputs,) = store.glob("*/outputs")
    assert json.loads((outputs / "scratch-db.json").read_text())["tables"] == {"numbers": 7}
    assert (outputs / "scratch.db").stat().st_size > 0
    assert shim.run_task(greet, {"name": "x"}, store=str(store)) == "hi x"
