"""``shim run``: run a task defined in a Python file or module, locally or in its image."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from shim.commands.common import EXIT_FAILED, ShimCommand, error_line, quiet_option, usage
from shim.errors import ShimError, TaskFailedError, UserError


class TargetError(UserError):
    code = "BadTarget"


def tasks_in(module: Any) -> list[str]:
    """The names of the shimkit tasks bound at the top level of ``module``, in order."""
    from shim.task.template import TaskTemplate

    return [k for k, v in vars(module).items() if isinstance(v, TaskTemplate)]


def _task_list(module: Any, module_ref: str) -> str:
    names = tasks_in(module)
    if not names:
        return f"{module_ref} defines no shimkit task"
    return f"tasks in {module_ref}: {', '.join(names)} (run one as {module_ref}:{names[0]})"


def _load_module(module_ref: str, source: str | None) -> Any:
    if source is not None:
        root = str(Path(source).resolve())
        if root not in sys.path:
            sys.path.insert(0, root)
        importlib.invalidate_caches()
    if module_ref.endswith(".py") or "/" in module_ref:
        path = Path(module_ref)
        if not path.is_file() and source is not None and (Path(source) / path).is_file():
            path = Path(source) / path
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
        return module
    try:
        return importlib.import_module(module_ref)
    except ModuleNotFoundError as e:
        where = f" from {source}" if source is not None else ""
        hint = "" if source is not None else " (--source DIR names the directory to import from)"
        raise TargetError(f"cannot import module {module_ref!r}{where}: {e}{hint}") from None


def load_target(target: str, source: str | None = None) -> Any:
    """``path/to/file.py:name`` or ``package.module:name`` -> the task object.

    ``source`` is a directory put first on ``sys.path`` (and where a relative file is looked
    for). A name that is not a task of the module is an error listing the module's tasks.
    """
    module_ref, sep, attr = target.rpartition(":")
    if not sep:
        module_ref, attr = target, ""
    if not module_ref:
        raise TargetError(
            f"target {target!r} must look like 'file.py:task' or 'package.module:task'"
        )
    if not attr:
        if module_ref.endswith(".py") or "/" in module_ref:
            module = _load_module(module_ref, source)
            raise TargetError(f"name the task to run: {_task_list(module, module_ref)}")
        raise TargetError(
            f"target {target!r} must look like 'file.py:task' or 'package.module:task'"
        )
    module = _load_module(module_ref, source)
    task = getattr(module, attr, None)
    if task is None and not hasattr(module, attr):
        raise TargetError(
            f"{module_ref} has no attribute {attr!r}; {_task_list(module, module_ref)}"
        )
    if not hasattr(task, "interface") or not hasattr(task, "forward"):
        raise TargetError(
            f"{target} is a {type(task).__name__}, not a shimkit task; "
            f"{_task_list(module, module_ref)}"
        )
    return task


def parse_input(name: str, raw: str, py_type: Any) -> Any:
    """A command-line string as a value of the input's type."""
    from shim.types import DataFrame, Directory, File

    base = getattr(py_type, "__origin__", py_type)
    if py_type is str:
        return raw
    if py_type is bool:  # the words of the settings (shim.envconf): one boolean dialect
        from shim.envconf import FALSE_WORDS, TRUE_WORDS

        low = raw.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise click.BadParameter(
            f"input {name!r}: expected a boolean (true/false, 1/0, yes/no, on/off), got {raw!r}",
            param_hint="'-i' / '--input'",
        )
    if py_type in (int, float):
        try:
            return py_type(raw)
        except ValueError:
            raise click.BadParameter(
                f"input {name!r}: expected {py_type.__name__}, got {raw!r}",
                param_hint="'-i' / '--input'",
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


def show(value: Any, rows: int = 10) -> str:
    """An output as ``shim run`` prints it: a DataFrame as its first rows, its shape and where
    its parquet is; a string as its text; a File or Directory as its location; several outputs as
    ``name: value`` lines; lists, dicts and dataclasses as JSON where they fit."""
    from shim.types import DataFrame, Directory, File

    if isinstance(value, DataFrame):
        return _show_dataframe(value, rows)
    if isinstance(value, str):
        return value
    if isinstance(value, (File, Directory)):
        return f"{type(value).__name__.lower()} at {value.uri}"  # where it is; not downloaded
    fields = _named_fields(value)
    if fields is not None:
        lines = []
        for k, v in fields.items():
            text = show(v, rows)
            if "\n" in text:
                lines.append(f"{k}:")
                lines.extend(f"  {line}" for line in text.splitlines())
            else:
                lines.append(f"{k}: {text}")
        return "\n".join(lines)
    if isinstance(value, (list, dict)) or dataclasses.is_dataclass(value):
        try:
            plain = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
            return json.dumps(plain, indent=2, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            return repr(value)
    return str(value) if isinstance(value, (int, float, bool)) else repr(value)


def _named_fields(value: Any) -> dict[str, Any] | None:
    """The outputs of a task with several (a named tuple of them), by name."""
    from shim.local.outputs import Outputs

    if isinstance(value, Outputs):
        return Outputs.as_dict(value)
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return dict(value._asdict())
    return None


def _show_dataframe(value: Any, rows: int) -> str:
    """The first ``rows`` rows (only the first record batch is read), the shape from the
    parquet footers, and where the parquet is."""
    import pyarrow as pa

    head = None
    for batch in value.iter_batches(batch_size=max(rows, 1)):
        head = pa.Table.from_batches([batch.slice(0, rows)])
        break
    if head is None:
        head = pa.table({})
    total = value.num_rows
    columns = len(value.schema)
    try:
        text = head.to_pandas().to_string(index=False, max_colwidth=40)
    except ImportError:
        text = head.to_string(preview_cols=20)
    shown = f", first {head.num_rows} shown" if head.num_rows < total else ""
    return f"{text}\n({total} rows x {columns} columns{shown}; parquet at {value.uri})"


def failure_text(e: TaskFailedError, *, verbose: bool = False, command: str = "shim run") -> str:
    """What ``shim run`` prints for a failed task: code, kind, origin and the reason, once;
    with ``verbose`` the document's whole message (the trace) first."""
    head = f"{command}: error: task failed: {e}"
    if not verbose:
        return head + "\n(run with --verbose for the full trace)"
    return f"{e.error_message.rstrip()}\n\n{head}"


@click.command("run", cls=ShimCommand)
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
    "--source",
    "-s",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="the directory modules are imported from (put first on sys.path; default: the "
    "current directory and the file's own)",
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
@quiet_option
def run_cmd(
    target: str,
    inputs: tuple[str, ...],
    source: str | None,
    runner: str | None,
    store: str | None,
    name: str | None,
    timeout: float | None,
    rows: int,
    verbose: bool,
    quiet: bool,
) -> None:
    """Run TARGET (file.py:task or package.module:task) and print its outputs.

    A wrong task name lists the tasks the file defines. Exit status: 0 done, 1 the task
    failed, 2 a wrong command line (target, input name or value, run options).
    """
    from shim import progress
    from shim.errors import TypeMismatchError
    from shim.local.runcontext import with_runcontext
    from shim.local.runs import RunStore, new_run_name

    try:
        task = load_target(target, source)
    except TargetError as e:
        usage(str(e))
    values = {}
    for item in inputs:
        key, eq, raw = item.partition("=")
        if not eq:
            raise click.BadParameter(f"{item!r} must be NAME=VALUE", param_hint="'-i' / '--input'")
        if key not in task.interface.inputs:
            raise click.BadParameter(
                f"task {task.name!r} has no input {key!r}; its inputs: "
                f"{', '.join(task.interface.inputs) or 'none'}",
                param_hint="'-i' / '--input'",
            )
        values[key] = parse_input(key, raw, task.interface.inputs[key])
    run_name = name or new_run_name()  # named here, so its directory can be printed
    try:
        context = with_runcontext(runner=runner, store=store, name=run_name, timeout=timeout)
    except (ShimError, ValueError) as e:
        usage(str(e))
    try:
        with progress.display(quiet=quiet):
            start = time.perf_counter()
            # the same path for every task (a function task's own __call__ is its plain function)
            result = context.run(task, **values)
            elapsed = time.perf_counter() - start
    except TaskFailedError as e:
        click.echo(failure_text(e, verbose=verbose), err=True)
        if e.run_dir:
            click.echo(f"run {e.run_name}: {e.run_dir}", err=True)
        sys.exit(EXIT_FAILED)
    except TypeMismatchError as e:  # an input value that does not fit, a missing input
        usage(str(e))
    except (ShimError, TypeError, ValueError) as e:
        click.echo(error_line(str(e)), err=True)
        if getattr(e, "run_dir", None):  # the run had started (e.g. LocalRunError)
            click.echo(f"run {e.run_name}: {e.run_dir}", err=True)  # type: ignore[attr-defined]
        sys.exit(EXIT_FAILED)
    click.echo(show(result, rows))
    click.echo(f"({elapsed:.2f}s; run {run_name}: {RunStore(store).run_dir(run_name)})", err=True)
