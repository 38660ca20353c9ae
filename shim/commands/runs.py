"""``shim runs``: list, show and clean the local runs store."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import click

from shim.commands.common import ShimGroup, fail, usage
from shim.errors import ShimError

_STORE_HELP = "the runs store, a local path (default: SHIM_LOCAL_STORE or <tmp>/shimkit-runs)"


def _store(store: str | None) -> Any:
    from shim.local.runs import RunStore

    runs = RunStore(store)
    if not runs.local:
        usage(f"`shim runs` reads a local store only, not {runs.root}")
    return runs


def _when(iso: str | None) -> str:
    return (iso or "-").replace("T", " ")[:19]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _row(r: Any) -> tuple[str, ...]:
    started, took = _when(r.started_at), _duration(r.duration)
    return (r.name, r.state, r.task or "-", r.runner or "-", started, took)


def _as_json(record: Any) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    data["state"] = record.state
    return data


def _group_store(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A subcommand's ``--store``, else the one given to the group (``shim runs --store X
    show RUN`` looks in X, as ``shim runs show RUN --store X`` does)."""
    if value is None and ctx.parent is not None:
        return ctx.parent.params.get("store")
    return value


_LIMIT = click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=None, help="newest N only"
)
_JSON = click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
_SUB_STORE = click.option("--store", default=None, help=_STORE_HELP, callback=_group_store)


@click.group("runs", cls=ShimGroup, invoke_without_command=True)
@click.option("--store", default=None, help=_STORE_HELP)
@_LIMIT
@_JSON
@click.pass_context
def runs_group(ctx: click.Context, store: str | None, limit: int | None, as_json: bool) -> None:
    """Local runs: `shim runs` (= list), `shim runs show RUN`, `shim runs clean`,
    `shim runs resume RUN` (a connector run)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd, store=store, limit=limit, as_json=as_json)


@runs_group.command("list")
@_SUB_STORE
@_LIMIT
@_JSON
def list_cmd(store: str | None, limit: int | None = None, as_json: bool = False) -> None:
    """List runs, newest first: name, status, task, runner, start (UTC), duration."""
    runs = _store(store)
    records = runs.list()[:limit] if limit else runs.list()
    if as_json:
        for r in records:
            click.echo(json.dumps(_as_json(r)))
        return
    if not records:
        click.echo(f"no runs in {runs.root}", err=True)
        return
    rows = [_row(r) for r in records]
    header = ("NAME", "STATUS", "TASK", "RUNNER", "STARTED (UTC)", "DURATION")
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@runs_group.command("show")
@click.argument("run")
@_SUB_STORE
@click.option("--json", "as_json", is_flag=True, help="the record as JSON")
def show_cmd(run: str, store: str | None, as_json: bool) -> None:
    """Show RUN (a name, or a unique beginning of one): its record, directory and error."""
    import os

    runs = _store(store)
    try:
        record = runs.get(run)
    except ShimError as e:  # no such run: a name that matches nothing
        usage(str(e))
    connector = _connector_state(record.dir)
    if as_json:
        data = _as_json(record)
        if connector is not None:
            data["connector"] = connector
        click.echo(json.dumps(data, indent=1, default=str))
        return
    lines = [
        ("run", record.name),
        ("status", record.state),
        ("task", record.task or "-"),
        ("runner", record.runner or "-"),
        ("started", _when(record.started_at) + " UTC"),
        ("ended", _when(record.ended_at) + (" UTC" if record.ended_at else "")),
        ("duration", _duration(record.duration)),
        ("attempt", str(record.attempt)),
        ("process", f"{record.pid} on {record.host}" if record.pid else "-"),
        ("directory", record.dir),
    ]
    if record.held:
        lines.append(("kept", record.held))
    if connector is not None:
        lines += _connector_lines(connector)
    outputs = os.path.join(record.dir, "outputs")
    if os.path.exists(os.path.join(outputs, "outputs.pb")):
        lines.append(("outputs", os.path.join(outputs, "outputs.pb")))
    failure = _error(outputs)
    if failure is not None:
        lines.append(("error", failure))
    elif record.error:
        lines.append(("error", record.error))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key.ljust(width)}  {value}")


def _connector_state(run_dir: str) -> dict[str, Any] | None:
    """A connector run's stored state (``describe_run``), redacted; None for other runs."""
    import os

    from shim.connectors.local import STATE_DIR

    if not os.path.exists(os.path.join(run_dir, STATE_DIR, "state.json")):
        return None
    from shim.connectors.local import describe_run
    from shim.runtime.redaction import redactor

    try:
        state = describe_run(run_dir)
    except Exception as e:  # damaged: say so, show the rest
        return {"error": f"{type(e).__name__}: {e}"}
    redact = redactor()  # no secret is stored; this process's secrets are masked anyway
    if state.get("resource_meta"):
        state["resource_meta"] = redact(state["resource_meta"])
    return state


def _connector_lines(state: dict[str, Any]) -> list[tuple[str, str]]:
    """What ``shim runs show`` prints of a connector run: the job and where the loop is."""
    if "error" in state:
        return [("connector", f"state unreadable: {state['error']}")]
    status = state.get("status")
    if status == "done":
        where = f"done: {state.get('outcome') or '-'}"
    elif status == "creating":
        where = "creating the job (create was called or is about to be)"
    else:
        where = "polling the job"
    lines = [
        (
            "connector",
            f"{state.get('task_type')} v{state.get('task_type_version')}, {state.get('connector')}",
        ),
        ("job", state.get("resource_meta") or "- (no resource meta stored)"),
        ("job phase", state.get("last_phase") or "-"),
        ("loop", where),
        (
            "job attempt",
            f"{state.get('attempt')} of {state.get('max_attempts')} (the task's retries + 1; "
            f"create called {_times(state.get('creates'))}, "
            f"resumed {_times(state.get('resumes'))})",
        ),
    ]
    for h in state.get("history") or []:
        lines.append((f"job attempt {h.get('attempt')}", f"{h.get('outcome')} ({h.get('code')})"))
    return lines


def _times(n: Any) -> str:
    return f"{n} time{'' if n == 1 else 's'}"


def _error(outputs: str) -> str | None:
    """The run's error document, summarized (``shim inspect`` prints all of it)."""
    from shim.local.runner import read_error
    from shim.storage import default_storage

    try:
        error = read_error(default_storage(), outputs)
    except Exception:  # a damaged document: `shim inspect` says more
        return None
    return None if error is None else str(error)


@runs_group.command("clean")
@_SUB_STORE
@click.option("--all", "everything", is_flag=True, help="remove every finished run")
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=None,
    help="keep the newest N runs (default: SHIM_LOCAL_KEEP_RUNS, else 50)",
)
def clean_cmd(store: str | None, everything: bool, keep: int | None) -> None:
    """Remove finished runs beyond the newest N. Runs still running are never removed, nor
    runs whose connector job may still be running (resume or abort them first)."""
    from shim.local.runs import keep_runs

    if everything and keep is not None:
        raise click.UsageError("give --all or --keep N, not both")
    runs = _store(store)
    try:
        n = 0 if everything else (keep if keep is not None else keep_runs())
    except ShimError as e:
        fail(str(e))
    removed = runs.prune(n)
    click.echo(f"removed {len(removed)} run{'s' if len(removed) != 1 else ''} from {runs.root}")
    for record in runs.list()[n:]:
        if record.held and not record.is_active():
            click.echo(f"kept {record.name}: {record.held}")


@runs_group.command("resume")
@click.argument("run")
@_SUB_STORE
@click.option("--abort", is_flag=True, help="delete the run's job instead of polling it")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="give up (and delete the job) after SECONDS",
)
@click.option(
    "-m",
    "--module",
    "modules",
    multiple=True,
    help="import this module first (it registers connectors in code); repeatable",
)
def resume_cmd(
    run: str, store: str | None, abort: bool, timeout: float | None, modules: tuple[str, ...]
) -> None:
    """Resume the connector run RUN (a name, a unique beginning of one, or its directory):
    poll the same job again (create is not called again), or delete it with --abort. The
    resumed run is a new attempt in the run's record."""
    import importlib
    import logging
    import os

    from shim.commands.common import EXIT_FAILED
    from shim.commands.run import failure_text, show
    from shim.connectors.base import ConnectorNotFound
    from shim.connectors.local import STATE_DIR, resume_connector_run
    from shim.errors import TaskFailedError
    from shim.local.runs import FAILED, INTERRUPTED, SUCCEEDED, RunStore

    if store is None and os.path.isdir(run) and os.path.exists(os.path.join(run, "run.json")):
        store, run = os.path.dirname(os.path.abspath(run)), os.path.basename(run.rstrip("/"))
    runs = _store(store)
    try:
        record = runs.get(run)
    except ShimError as e:  # no such run: a name that matches nothing
        usage(str(e))
    if not os.path.exists(os.path.join(record.dir, STATE_DIR, "state.json")):
        usage(
            f"run {record.name} ({record.task}, runner {record.runner}) is not a connector run: "
            "only a connector run has a job to resume; run the task again instead "
            f"(`shim run FILE.py:TASK --name {record.name}`)"
        )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="shim runs: %(message)s")
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:
            fail(f"cannot import module {name!r}: {type(e).__name__}: {e}")
    try:
        attempt = RunStore(runs.root).start(task=record.task, runner="connector", name=record.name)
    except ShimError as e:
        fail(str(e))
    status, code = FAILED, None
    try:
        try:
            result = resume_connector_run(record.dir, abort=abort, timeout=timeout)
        except ConnectorNotFound as e:
            raise ConnectorNotFound(
                f"{e}; a connector registered in code: pass its module, `shim runs resume "
                f"{record.name} -m MODULE`"
            ) from None
        status = SUCCEEDED
    except TaskFailedError as e:
        code = e.code
        click.echo(failure_text(e, command="shim runs resume"), err=True)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        status = INTERRUPTED
        raise
    except (ShimError, ValueError) as e:
        code = type(e).__name__
        fail(str(e))
    finally:
        attempt.finish(status, code)
    click.echo(show(result, 10))
