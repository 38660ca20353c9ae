"""``shim run``: run a task defined in a Python file or module, locally or in its image."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from shim.errors import ShimError, TaskFailedError, UserError


class TargetError(UserError):
    code = "BadTarget"


def load_target(target: str) -> Any:
    """``path/to/file.py:name`` or ``package.module:name`` -> the task object."""
    module_ref, sep, attr = target.rpartition(":")
    if not sep or not module_ref or not attr:
        raise TargetError(
            f"target {target!r} must look like 'file.py:task' or 'package.module:task'"
        )
    if module_ref.endswith(".py") or "/" in module_ref:
        path = Path(module_ref)
        if not path.is_file():
            raise TargetError(f"no such file: {module_ref}")
        existing = sys.modules.get(path.stem)
        if path.stem in sys.stdlib_module_names or (
            existing is not None and not getattr(existing, "__shim_run_target__", False)
        ):
            raise TargetError(
                f"{module_ref} would be imported as module {path.stem!r}, which is already a "
                "module of Python or of an installed package; rename the file"
            )
        sys.path.insert(0, str(path.resolve().parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        module.__shim_run_target__ = True  # type: ignore[attr-defined]
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_ref)
        except ModuleNotFoundError as e:
            raise TargetError(f"cannot import module {module_ref!r}: {e}") from None
    try:
        task = getattr(module, attr)
    except AttributeError:
        raise TargetError(f"{module_ref} has no attribute {attr!r}") from None
    if not hasattr(task, "interface") or not hasattr(task, "forward"):
        raise TargetError(f"{target} is a {type(task).__name__}, not a shimkit task")
    return task


def parse_input(name: str, raw: str, py_type: Any) -> Any:
    """A command-line string as a value of the input's type."""
    from shim.types import DataFrame, Directory, File

    base = getattr(py_type, "__origin__", py_type)
    if py_type is str:
        return raw
    if py_type is bool:
        low = raw.strip().lower()
        if low in ("true", "t", "1", "yes"):
            return True
        if low in ("false", "f", "0", "no"):
            return False
        raise click.BadParameter(f"input {name!r}: expected true/false, got {raw!r}")
    if py_type in (int, float):
        try:
            return py_type(raw)
        except ValueError:
            raise click.BadParameter(
                f"input {name!r}: expected {py_type.__name__}, got {raw!r}"
            ) from None
    if base is File or py_type is File:
        return File(raw)
    if base is Directory or py_type is Directory:
        return Directory(raw)
    if base is DataFrame or py_type is DataFrame or "DataFrame" in repr(py_type):
        return DataFrame(raw)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def show(value: Any, rows: int) -> str:
    from shim.types import DataFrame

    if isinstance(value, DataFrame):
        table = value.to_arrow()
        head = table.slice(0, rows)
        try:
            text = head.to_pandas().to_string(index=False)
        except ImportError:
            text = head.to_string(preview_cols=20)
        return f"{text}\n({table.num_rows} rows, {table.num_columns} columns at {value.uri})"
    from shim.local.outputs import Outputs

    if isinstance(value, Outputs):
        named = Outputs.as_dict(value)
    elif isinstance(value, tuple) and hasattr(value, "_fields"):  # a function's NamedTuple
        named = value._asdict()
    else:
        return repr(value)
    return "\n".join(f"{k}: {show(v, rows)}" for k, v in named.items())


def failure_text(e: TaskFailedError, *, verbose: bool = False) -> str:
    """What ``shim run`` prints for a failed task: code, kind, origin and the reason, once;
    with ``verbose`` the document's whole message (the trace) first."""
    head = f"shim run: task failed: {e}"
    if not verbose:
        return head + "\n(run with --verbose for the full trace)"
    return f"{e.error_message.rstrip()}\n\n{head}"


@click.command("run")
@click.argument("target")
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="an input value (repeatable); lists, dicts as JSON",
)
@click.option(
    "--runner",
    type=click.Choice(["inprocess", "subprocess", "container"]),
    default=None,
    help="where the entrypoint runs (default: inprocess, or SHIM_RUNNER)",
)
@click.option(
    "--store",
    default=None,
    help="where runs are kept, a path or URL (default: SHIM_LOCAL_STORE or <tmp>/shimkit-runs)",
)
@click.option("--name", default=None, help="the run's name (default: generated)")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="seconds before a subprocess or container run is stopped (default: 3600)",
)
@click.option("--rows", default=10, show_default=True, help="rows of a dataframe to print")
@click.option(
    "-v", "--verbose", is_flag=True, help="on failure, print the task's full trace as well"
)
def run_cmd(
    target: str,
    inputs: tuple[str, ...],
    runner: str | None,
    store: str | None,
    name: str | None,
    timeout: float | None,
    rows: int,
    verbose: bool,
) -> None:
    """Run TARGET (file.py:task or package.module:task) and print its outputs."""
    from shim.local.runcontext import with_runcontext
    from shim.local.runs import RunStore, new_run_name

    try:
        run_name = name or new_run_name()  # named here, so its directory can be printed
        context = with_runcontext(runner=runner, store=store, name=run_name, timeout=timeout)
        task = load_target(target)
        values = {}
        for item in inputs:
            key, eq, raw = item.partition("=")
            if not eq:
                raise click.BadParameter(f"--input {item!r} must be NAME=VALUE")
            if key not in task.interface.inputs:
                raise click.BadParameter(
                    f"task has no input {key!r}; inputs are {list(task.interface.inputs)}"
                )
            values[key] = parse_input(key, raw, task.interface.inputs[key])
        start = time.perf_counter()
        # the same path for every task (a function task's own __call__ is its plain function)
        result = context.run(task, **values)
        elapsed = time.perf_counter() - start
    except TaskFailedError as e:
        click.echo(failure_text(e, verbose=verbose), err=True)
        if e.run_dir:
            click.echo(f"run {e.run_name}: {e.run_dir}", err=True)
        sys.exit(1)
    except (ShimError, TypeError, ValueError) as e:
        click.echo(f"shim run: {e}", err=True)
        sys.exit(1)
    click.echo(show(result, rows))
    click.echo(f"({elapsed:.2f}s; run {run_name}: {RunStore(store).run_dir(run_name)})", err=True)
