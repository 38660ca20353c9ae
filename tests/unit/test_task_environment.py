"""TaskEnvironment: shared settings applied where a task kept the defaults."""

from __future__ import annotations

import pytest

from shim import Resources, ReusePolicy, Secret, TaskEnvironment, to_idl
from tests.support import executors as ex
from tests.support.tasks import make_task


def test_environment_fills_defaults_and_merges_env_vars():
    env = TaskEnvironment(
        name="analytics",
        resources=Resources(cpu="2", memory="4Gi"),
        env_vars={"LOG": "info", "REGION": "eu"},
        retries=3,
        secrets=[Secret("db", "password")],
    )
    task = make_task(ex.NoOpExecutor, env_vars={"LOG": "debug"}, retries=1)
    added = env.add(task)
    assert added is not task and env.tasks == {added.name: added}
    assert added.resources == Resources(cpu="2", memory="4Gi")
    assert added.retries == 1  # the task's own value wins
    assert added.env_vars == {"LOG": "debug", "REGION": "eu"}
    assert [s.group for s in added.secret_list] == ["db"]
    assert task.resources is None and task.env_vars == {"LOG": "debug"}  # untouched
    pb = to_idl(added)
    assert {e.key: e.value for e in pb.container.env} == {"LOG": "debug", "REGION": "eu"}
    assert pb.metadata.retries.retries == 1


def test_environment_without_settings_changes_nothing():
    task = make_task(ex.NoOpExecutor, retries=2)
    added = TaskEnvironment(name="plain").add(task)
    assert added.retries == 2 and added.resources is None and added.env_vars is None


def test_reusable_task_keeps_its_env_vars():
    task = make_task(ex.NoOpExecutor, reusable=ReusePolicy())
    with pytest.raises(ValueError, match="reusable"):
        TaskEnvironment(name="e", env_vars={"A": "1"}).add(task)


def test_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        TaskEnvironment(name="")
    with pytest.raises(TypeError, match="takes a task"):
        TaskEnvironment(name="e").add("not a task")
