"""Function tasks (EXTENSION.md section 2): interface, calls, pre/body/post, runs, nesting."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

import shim
from shim import TaskEnvironment, TaskFailedError, to_idl
from shim.errors import TaskDefinitionError
from shim.extend import AsyncFunctionTaskTemplate, interface_from_callable
from shim.task.function import FUNCTION_RESOLVER
from tests.support import fn_tasks as t

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "runs")


def run_dirs(store: str) -> list[Path]:
    return sorted(Path(store).glob("*/outputs"), key=lambda p: p.stat().st_mtime)


# --- interface -----------------------------------------------------------------------------


class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


@dataclass
class Box:
    w: int
    label: str


def every_type(
    i: int,
    f: float,
    s: str,
    b: bool,
    when: dt.datetime,
    span: dt.timedelta,
    items: list[int],
    table: dict[str, float],
    box: Box,
    maybe: Optional[int],  # noqa: UP045 - the Optional spelling is part of what is tested
    either: int | str,
    shade: Shade,
    file: shim.File,
    folder: shim.Directory,
    frame: shim.DataFrame,
    untyped: dict,
) -> tuple[int, float, str, bool, dt.datetime, dt.timedelta, list[int], dict[str, float], Box]:
    return i, f, s, b, when, span, items, table, box


every_type_task = TaskEnvironment(name="types").task(every_type)


def test_interface_from_annotations_covers_every_wire_type():
    iface = every_type_task.interface
    assert list(iface.inputs)[:3] == ["i", "f", "s"] and len(iface.inputs) == 16
    assert list(iface.outputs) == [f"o{i}" for i in range(9)]
    pb = to_idl(every_type_task).interface
    assert set(pb.inputs.variables) == set(iface.inputs)


def test_outputs_named_tuple_none_and_defaults():
    assert list(t.stats.interface.outputs) == ["total", "label"]
    assert t.noop.interface.outputs == {}
    assert t.add.interface.defaults == {"b": 10}


def test_run_with_every_type_round_trip(store, tmp_path):
    (tmp_path / "in.txt").write_text("data")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a").write_text("a")
    import pyarrow as pa

    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    out = shim.run_task(
        every_type_task,
        {
            "i": 1,
            "f": 2.5,
            "s": "x",
            "b": True,
            "when": when,
            "span": dt.timedelta(seconds=3),
            "items": [1, 2],
            "table": {"a": 1.5},
            "box": Box(2, "b"),
            "maybe": None,
            "either": "str",
            "shade": Shade.DARK,
            "file": shim.File(str(tmp_path / "in.txt")),
            "folder": shim.Directory(str(tmp_path / "dir")),
            "frame": shim.DataFrame.from_arrow(pa.table({"a": [1, 2]})),
            "untyped": {"k": [1, "v"]},
        },
        store=store,
    )
    assert tuple(out) == (
        1,
        2.5,
        "x",
        True,
        when,
        dt.timedelta(seconds=3),
        [1, 2],
        {"a": 1.5},
        Box(2, "b"),
    )


def test_kinds_decode_to_the_functions_own_types(store):
    p, c, n = shim.run_task(
        t.kinds,
        {"p": t.Point(1, 2.0), "c": t.Color.RED, "names": ["a"], "m": {"x": 1.0}},
        store=store,
    )
    assert p == t.Point(2, 4.0) and c is t.Color.BLUE and n == 2


def test_named_tuple_result(store):
    out = shim.run_task(t.stats, {"values": [1, 2, 3]}, store=store)
    assert out == (6, "3 values") and out.total == 6


def test_outputs_come_back_as_the_function_declares_them_everywhere(store):
    """A NamedTuple (one of a single field too) comes back as that NamedTuple from the plain
    call, shim.run, run_task and a nested call alike; tuple[A, B] as shim.Outputs (equal to
    the tuple). shim.run_task gave Outputs and a one-field NamedTuple its bare value."""
    ctx = shim.with_runcontext(store=store)
    for call in (
        lambda task, **kw: task(**kw),
        ctx.run,
        lambda task, **kw: shim.run_task(task, kw, store=store),
    ):
        assert type(call(t.stats, values=[1, 2])) is t.Stats
        assert call(t.single_field, values=[1, 2]) == t.Total(3)
        assert type(call(t.single_field, values=[1, 2])) is t.Total
    both = ctx.run(t.kinds, p=t.Point(1, 1.0), c=t.Color.RED, names=[], m={})
    assert type(both) is shim.Outputs and both == (t.Point(2, 2.0), t.Color.BLUE, 0)
    assert ctx.run(t.checks_child_outputs, values=[1, 2]) == ["Stats", "Total", "3", "Outputs"]


def test_shim_run_prints_a_named_tuple_by_field(store, monkeypatch):
    from click.testing import CliRunner

    from shim.commands import cli

    monkeypatch.setenv("SHIM_LOCAL_STORE", store)
    monkeypatch.chdir(REPO)
    r = CliRunner().invoke(cli, ["run", "tests/support/fn_tasks.py:stats", "-i", "values=[1, 2]"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "total: 3\nlabel: 2 values"  # a string as its text


def test_inputs_named_like_run_options(store):
    """runner, store and name are inputs of these functions in every form of call."""
    kw = {"runner": "container", "store": "s3://nowhere", "name": "../x"}
    assert t.named_like_options(**kw) == "container|s3://nowhere|../x"  # the plain function
    assert asyncio.run(t.async_runner_input.aio(runner="container")) == "runner=container"
    assert asyncio.run(t.async_runner_input(runner="x")) == "runner=x"
    assert shim.with_runcontext(store=store).run(t.named_like_options, **kw) == (
        "container|s3://nowhere|../x"
    )
    sub = shim.with_runcontext(runner="subprocess", store=store, name="opts")
    assert sub.run(t.named_like_options, "a", "b", "c") == "a|b|c"
    assert sub.run(t.async_runner_input, runner="inprocess") == "runner=inprocess"
    assert shim.run_task(t.calls_option_named_children, {"x": 1}, store=store) == [
        "r|s|n",
        "runner=a",
        "runner=b",
    ]
    assert {p.parent.name for p in Path(store).glob("*/run.json")} >= {"opts"}


# --- bad input at definition time -------------------------------------------------------------


def untyped(a, b: int) -> int:
    return b


def star_args(*xs: int) -> int:
    return 0


class Opaque:
    pass


def opaque(x: Opaque) -> int:
    return 0


def opaque_out(x: int) -> Opaque:
    return Opaque()


def gen(n: int):
    yield n


@pytest.mark.parametrize(
    ("func", "words"),
    [
        (untyped, "parameter 'a' has no type annotation"),
        (star_args, "*args and **kwargs cannot be inputs"),
        (opaque, "input 'x' has type 'Opaque', which shimkit cannot carry"),
        (opaque_out, "output 'o0' has type 'Opaque'"),
        (gen, "cannot be a generator"),
        (lambda x: x, "cannot be a lambda"),
    ],
)
def test_bad_functions_fail_at_definition(func, words):
    with pytest.raises(TaskDefinitionError) as e:
        TaskEnvironment(name="bad").task(func)
    assert words in str(e.value)
    assert isinstance(e.value, TypeError) and isinstance(e.value, ValueError)


def test_nested_function_fails_at_definition():
    def inner(x: int) -> int:
        return x

    with pytest.raises(TaskDefinitionError, match="defined at module level"):
        TaskEnvironment(name="bad").task(inner)


def test_not_a_function():
    with pytest.raises(TaskDefinitionError, match="already a task"):
        TaskEnvironment(name="bad").task(t.add)
    with pytest.raises(TypeError, match="decorates a function"):
        TaskEnvironment(name="bad").task("add")


def test_interactive_function_cannot_be_a_task():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import shim\nenv = shim.TaskEnvironment(name='e')\n"
            "def f(x: int) -> int:\n    return x\nenv.task(f)",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 1 and "interactive session" in proc.stderr


# --- calling ------------------------------------------------------------------------------------


def test_call_outside_a_task_is_the_plain_function():
    assert t.add(1) == 11 and t.add.forward(1, b=2) == 3
    coro = t.double(4)
    assert asyncio.iscoroutine(coro) and asyncio.run(coro) == 8


def test_aio_returns_an_awaitable_of_the_value():
    assert asyncio.run(t.double.aio(4)) == 8  # the reference: a coroutine of a coroutine
    assert asyncio.run(t.add.aio(1)) == 11


def test_template_runs_the_function_resolver():
    pb = to_idl(t.add)
    args = list(pb.container.args)
    assert pb.type == "python-task" and not pb.HasField("custom")
    assert args[args.index("--resolver") + 1] == FUNCTION_RESOLVER
    assert args[-5:] == ["{{.taskTemplatePath}}", "task-module", t.__name__, "task-name", "add"]
    assert pb.container.image.startswith("shimkit-base:")
    assert {e.key: e.value for e in pb.container.env} == {"FN_ENV": "from-env"}


def test_run_sync_and_async_in_process(store):
    assert shim.run_task(t.add, {"a": 1, "b": 2}, store=store) == 3
    assert shim.run_task(t.double, {"x": 21}, store=store) == 42
    assert shim.run_task(t.noop, {}, store=store) is None
    assert shim.run_task(t.environ, {"name": "FN_ENV"}, store=store) == "from-env"


def test_sync_body_runs_without_an_event_loop(store):
    assert shim.run_task(t.sync_uses_asyncio_run, {"x": 1}, store=store) == 2


def test_in_process_run_started_from_async_code(store):
    async def main() -> int:
        return shim.run_task(t.double, {"x": 2}, store=store)

    assert asyncio.run(main()) == 4


def test_exception_in_the_body_is_a_user_error(store):
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(t.fails, {"message": "boom"}, store=store)
    assert e.value.code == "USER:ChildFailed" and e.value.kind == "NON_RECOVERABLE"
    trace_part = e.value.error_message.split("Message:")[0]
    assert "fn_tasks.py" in trace_part and "asyncio" not in trace_part


def test_wrong_number_of_results_is_a_user_error(store):
    env = TaskEnvironment(name="shape")
    task = env.task(returns_one_of_two)
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(task, {}, store=store)
    assert e.value.code == "USER:TypeError" and "must return 2 values" in e.value.error_message


def returns_one_of_two() -> tuple[int, int]:
    return 1  # type: ignore[return-value]


# --- pre -> body -> post ------------------------------------------------------------------------


@dataclass
class Bump:
    by: int
    replace: bool = True


@dataclass(eq=False, kw_only=True)
class BumpTask(AsyncFunctionTaskTemplate):
    task_type: str = "bump"
    plugin_config: Bump
    calls: Any = None

    def custom_config(self, sctx):
        return {"by": self.plugin_config.by}

    async def pre(self, **inputs):
        return {"bump": self.plugin_config.by, "seen": sorted(inputs)}

    async def post(self, return_vals):
        return return_vals + 1000 if self.plugin_config.replace else None


shim.TaskPluginRegistry.register(Bump, BumpTask)
bump_env = TaskEnvironment(name="bump", plugin_config=Bump(by=5))
keep_env = TaskEnvironment(name="keep", plugin_config=Bump(by=5, replace=False))


def add_bump(x: int) -> int:
    data = shim.current_context().data
    assert data["seen"] == ["x"]
    return x + data["bump"]


async def add_bump_async(x: int) -> int:
    return x + shim.current_context().data["bump"]


bumped = bump_env.task(add_bump)
bumped_async = bump_env.task(add_bump_async)
kept = keep_env.task(add_bump)


def test_pre_data_reaches_body_and_post_replaces_result(store):
    assert shim.run_task(bumped, {"x": 1}, store=store) == 1006
    assert shim.run_task(bumped_async, {"x": 1}, store=store) == 1006


def test_post_returning_none_keeps_the_result(store):
    assert shim.run_task(kept, {"x": 1}, store=store) == 6


# --- nested calls -------------------------------------------------------------------------------


def test_nested_async_children_gathered(store):
    assert shim.run_task(t.fan_out, {"n": 5}, store=store) == [0, 2, 4, 6, 8]
    assert shim.run_task(t.fan_out_sync_children, {"n": 3}, store=store) == [1, 2, 3]


def test_nested_sync_children(store):
    assert shim.run_task(t.sync_parent, {"x": 4}, store=store) == 19


def test_children_are_staged_under_the_parents_raw_prefix(store):
    shim.run_task(t.sync_parent, {"x": 1}, store=store)
    (parent,) = run_dirs(store)
    children = list((parent.parent / "raw" / "children").glob("*/outputs/outputs.pb"))
    assert len(children) == 2


def test_children_do_not_prune_the_store_the_parents_outputs_point_into(store, monkeypatch):
    # more children than the runs a store keeps: each child's run must stay, since the
    # parent returns the files they wrote (pruning removed the first ones mid-run)
    monkeypatch.setenv("SHIM_LOCAL_KEEP_RUNS", "2")
    files = shim.run_task(t.collects_files, {"n": 4}, store=store)
    assert [Path(f.download()).read_text() for f in files] == [f"child {i}" for i in range(4)]
    (parent,) = run_dirs(store)
    assert len(list((parent.parent / "raw" / "children").glob("*/run.json"))) == 4


def test_failing_child_caught_by_its_parent(store):
    assert shim.run_task(t.catches_child, {"message": "m"}, store=store) == (
        "caught ChildFailed USER:ChildFailed"
    )
    assert shim.run_task(t.catches_value_error, {"message": "m"}, store=store) == (
        "caught USER:ValueError"
    )


def test_failing_child_not_caught_fails_the_parent_with_its_code(store):
    """The parent's failure says the child's code and reason once (not the child's whole
    ``CODE (KIND, ORIGIN): reason`` line again inside the parent's)."""
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(t.uncaught_child, {"message": "deep"}, store=store)
    assert e.value.code == "USER:ChildFailed"
    assert str(e.value) == "USER:ChildFailed (NON_RECOVERABLE, USER): deep"
    assert e.value.error_message.endswith("Message:\n\n    ChildFailed: deep")


def test_blocking_sync_call_from_async_code(store):
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(t.blocking_call_in_async, {}, store=store)
    assert e.value.code == "USER:SyncTaskCallInAsyncContextError"
    assert "await add.aio" in e.value.error_message


def test_gather_is_bounded(store, monkeypatch):
    assert shim.run_task(t.gather_slow, {"n": 12}, store=store) == 8
    monkeypatch.setenv("SHIM_MAX_CONCURRENCY", "3")
    assert shim.run_task(t.gather_slow, {"n": 7}, store=store) == 3


def test_bad_max_concurrency(store, monkeypatch):
    monkeypatch.setenv("SHIM_MAX_CONCURRENCY", "zero")
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(t.fan_out, {"n": 2}, store=store)
    assert e.value.code == "USER:InvalidConfig"


def test_nested_child_with_other_env_vars_runs_in_its_own_process(store):
    assert shim.run_task(t.asks_other_env, {"name": "FN_ENV"}, store=store) == [
        "other",
        "from-env",
    ]


def test_pre_built_task_called_from_a_function_task(store):
    assert shim.run_task(calls_prebuilt, {"x": 3}, store=store) == 3


from tests.support.tasks import echo_task  # noqa: E402

prebuilt_echo = echo_task(int)


def calls_prebuilt(x: int) -> int:
    return prebuilt_echo(x=x)


calls_prebuilt = TaskEnvironment(name="mixed").task(calls_prebuilt)  # type: ignore[assignment]


# --- scripts run as __main__ ----------------------------------------------------------------


@pytest.mark.parametrize("runner", ["inprocess", "subprocess"])
def test_task_defined_in_the_script_that_runs_it(tmp_path, runner):
    script = tmp_path / "pipeline_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            import shim
            with open(os.environ["MARKER"], "a") as f:
                f.write("top level ran\\n")
            env = shim.TaskEnvironment(name="script")

            @env.task
            def inc(x: int) -> int:
                return x + 1

            if __name__ == "__main__":
                print(shim.run_task(inc, {"x": 41}, runner=sys.argv[1]))
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script), runner],
        capture_output=True,
        text=True,
        env={
            "SHIM_LOCAL_STORE": str(tmp_path / "runs"),
            "PATH": "/usr/bin:/bin",
            "MARKER": str(tmp_path / "marker"),
        },
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "42"
    # in-process the script's own module is used, not imported a second time
    expected = 1 if runner == "inprocess" else 2
    assert (tmp_path / "marker").read_text().count("top level ran") == expected


# --- traces -------------------------------------------------------------------------------------


def spans_of(outputs: Path) -> list[dict]:
    doc = json.loads((outputs / "trace.json").read_text())
    assert doc["kind"] == "Trace"
    return doc["spans"]


def test_trace_spans_written_next_to_outputs(store):
    assert shim.run_task(t.traced, {"x": 3}, store=store) == 9 + 9 + 6 + 3 + 4
    (outputs,) = run_dirs(store)
    spans = {s["name"].rsplit(".", 1)[-1]: s for s in spans_of(outputs)}
    sq = [s for s in spans_of(outputs) if s["name"].endswith(".square")]
    assert len(sq) == 2  # the sync trace from the async task, and the nested one
    outer = spans["async_square"]
    assert outer["inputs"] == {"x": 3} and outer["outputs"] == 9 and outer["parent"] is None
    assert any(s["parent"] == outer["id"] for s in sq)
    assert spans["countdown"]["outputs"] == [3, 2, 1]
    assert spans["acount"]["outputs"] == [0, 1, 2]
    assert spans["broken"]["error"] == {"type": "KeyError", "message": "'no 3'"}
    assert "outputs" not in spans["broken"]
    assert spans["forwards_task"]["outputs"] == 4
    for s in spans.values():
        assert s["start"] <= s["end"] and s["duration_ms"] >= 0


def test_child_tasks_are_spans_too(store):
    shim.run_task(t.fan_out, {"n": 3}, store=store)
    outputs = [p for p in run_dirs(store) if (p / "trace.json").exists()]
    (parent,) = [p for p in outputs if spans_of(p)[0]["kind"] == "task"]
    kids = spans_of(parent)
    assert [(s["kind"], s["name"], s["inputs"], s["outputs"]) for s in kids] == [
        ("task", "fn.double", {"x": i}, 2 * i) for i in range(3)
    ]


def test_trace_spans_written_when_the_task_fails(store):
    with pytest.raises(TaskFailedError):
        shim.run_task(t.traced_then_fails, {"x": 2}, store=store)
    (outputs,) = run_dirs(store)
    assert (outputs / "error.pb").exists()
    assert [s["outputs"] for s in spans_of(outputs)] == [4]


TOKEN_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n"
)


@pytest.mark.parametrize("runner", ["inprocess", "subprocess"])
def test_trace_spans_never_hold_a_secret(store, monkeypatch, runner):
    """A traced call gets a secret as its input and puts it in its error: trace.json is
    redacted like an error document (not a line of the key, in any form)."""
    monkeypatch.setenv("_FSEC_API_TOKEN", TOKEN_PEM)
    n = shim.with_runcontext(store=store, runner=runner).run(t.traced_secret, group="api")
    assert n == len(TOKEN_PEM)
    (outputs,) = run_dirs(store)
    text = (outputs / "trace.json").read_text()
    (span,) = spans_of(outputs)
    assert span["inputs"] == {"token": "[redacted]"}
    assert span["error"]["message"] == "login refused for token [redacted]"
    for line in TOKEN_PEM.splitlines():
        assert line not in text


def test_no_trace_file_without_spans(store):
    shim.run_task(t.add, {"a": 1}, store=store)
    (outputs,) = run_dirs(store)
    assert not (outputs / "trace.json").exists()


def test_task_call_inside_a_trace_is_refused(store):
    for task in (t.trace_calls_task, t.trace_calls_task_aio):
        with pytest.raises(TaskFailedError) as e:
            shim.run_task(task, {"x": 1}, store=store)
        assert e.value.code == "USER:TraceDoesNotAllowNestedTasksError"


def test_trace_outside_a_task_is_a_plain_call():
    assert t.square(4) == 16 and list(t.countdown(2)) == [2, 1]
    assert t.calls_task(1) == 11  # no running task: no refusal either


def test_inspect_prints_the_spans(store):
    from click.testing import CliRunner

    from shim.commands import cli

    shim.run_task(t.traced, {"x": 1}, store=store)
    (outputs,) = run_dirs(store)
    res = CliRunner().invoke(cli, ["inspect", str(outputs / "trace.json")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["kind"] == "Trace" and doc["document"]["task"] == "fn.traced"
    assert len(doc["document"]["spans"]) >= 6


# --- layering ---------------------------------------------------------------------------------


def test_runtime_and_task_layers_do_not_import_upper_layers():
    code = textwrap.dedent(
        """
        import sys
        import shim.runtime.function_resolver, shim.runtime.trace, shim.runtime.controller
        bad = [m for m in sys.modules if m.startswith(("shim.task", "shim.local"))]
        assert not bad, bad
        import shim.task.function, shim.task.environment, shim.task.plugins, shim.extend
        from shim import AsyncFunctionTaskTemplate, TaskPluginRegistry, trace
        bad = [m for m in sys.modules if m.startswith(("shim.local", "shim.commands"))]
        assert not bad, bad
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_interface_from_callable_is_public():
    iface = interface_from_callable(every_type)
    assert iface.inputs["box"] is Box


# --- pre-built tasks go through the same controller -------------------------------------------


@shim.trace
def prebuilt_in_trace(x: int) -> int:
    return prebuilt_echo(x=x)


def prebuilt_from_trace(x: int) -> int:
    return prebuilt_in_trace(x)


async def prebuilt_blocking_in_async(x: int) -> int:
    return prebuilt_echo(x=x)


async def prebuilt_aio_in_async(x: int) -> int:
    return await prebuilt_echo.aio(x=x)


mixed = TaskEnvironment(name="mixed2")
prebuilt_from_trace = mixed.task(prebuilt_from_trace)  # type: ignore[assignment]
prebuilt_blocking_in_async = mixed.task(prebuilt_blocking_in_async)  # type: ignore[assignment]
prebuilt_aio_in_async = mixed.task(prebuilt_aio_in_async)  # type: ignore[assignment]


def test_prebuilt_task_aio_at_top_level():
    assert asyncio.run(prebuilt_echo.aio(x=3)) == 3


def test_prebuilt_task_rules_inside_a_running_task(store):
    assert shim.run_task(prebuilt_aio_in_async, {"x": 4}, store=store) == 4
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(prebuilt_from_trace, {"x": 1}, store=store)
    assert e.value.code == "USER:TraceDoesNotAllowNestedTasksError"
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(prebuilt_blocking_in_async, {"x": 1}, store=store)
    assert e.value.code == "USER:SyncTaskCallInAsyncContextError"
