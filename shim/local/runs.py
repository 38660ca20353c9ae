"""The local runs store: one directory per run, named, with a small metadata file.

Layout under a store root (``SHIM_LOCAL_STORE``, default ``<tmp>/shimkit-runs``, or the
``store=`` URL of a call)::

    <root>/<run name>/run.json       RunRecord: task, runner, status, timestamps, pid, host
                     /task.pb        the serialized template (Stage gives the other paths)
                     /inputs.pb, input-data/, outputs/, raw/, scratch/

A run's name is given by the caller (``shim.with_runcontext(name=...)``, ``shim run --name``)
or generated (``YYYYMMDD-HHMMSS-xxxxxx``, UTC, so generated names sort by start time). A name
that is used again reuses its directory as a new attempt (``attempt`` counts them), unless the
earlier attempt is still running, which is refused: what the earlier attempt left there (its
record, and whatever a connector persisted) is readable when the new one starts
(:attr:`LocalRun.previous`), so a later call can resume instead of starting over.

On a local root the store keeps the newest ``SHIM_LOCAL_KEEP_RUNS`` runs (default 50): each
new run removes the finished runs beyond that number. A run that is still running is never
removed (its record says ``running`` and its process is alive, or it runs on another host),
nor is a *held* run: one whose directory holds a ``hold`` file (:func:`hold`), written by
whoever started something outside this process that may outlive it — a connector's job, whose
only record is in the run directory — and removed (:func:`release`) once that is over. A
killed run's record still says ``running`` (shown as ``lost``) while its job may run on.
Remote roots (``s3://...``) get the same records but are neither listed nor pruned here: an
object-store lifecycle rule is the tool for that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shim import envconf
from shim.errors import ShimError, StorageNotFoundError, UserError
from shim.local.staging import Stage, default_store_root

__all__ = [
    "DEFAULT_KEEP",
    "FAILED",
    "HOLD_FILE",
    "INTERRUPTED",
    "KEEP_ENV",
    "RUNNING",
    "RUN_FILE",
    "STATUSES",
    "SUCCEEDED",
    "LocalRun",
    "RunInProgressError",
    "RunNotFoundError",
    "RunRecord",
    "RunStore",
    "hold",
    "keep_runs",
    "new_run_name",
    "release",
    "validate_run_name",
]

RUN_FILE = "run.json"
#: a run directory holding this file is never removed; its text says why (see :func:`hold`)
HOLD_FILE = "hold"
DEFAULT_KEEP = 50
KEEP_ENV = "SHIM_LOCAL_KEEP_RUNS"

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"  # Ctrl-C (KeyboardInterrupt) in the calling process
STATUSES = (RUNNING, SUCCEEDED, FAILED, INTERRUPTED)
#: shown for a record that says running whose process (on this host) is gone
LOST = "lost"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
#: directories of the layout before run records (16 hex characters, a task.pb inside)
_LEGACY = re.compile(r"[0-9a-f]{16}")
#: a directory without a record is left alone this long (its record may be on its way)
_UNRECORDED_GRACE = 60.0
_TRASH = ".trash-"


class RunNotFoundError(UserError):
    code = "RunNotFound"


class RunInProgressError(UserError):
    code = "RunInProgress"


def validate_run_name(name: str) -> str:
    """``name`` if it can name a run directory, else ValueError saying what is allowed."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"run name {name!r} is not allowed: use 1-100 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (it names the run's directory)"
        )
    return name


def new_run_name(now: dt.datetime | None = None) -> str:
    """A fresh generated name: UTC start time and 6 random hex digits."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def keep_runs(environ: Any = None) -> int:
    """How many runs a local store keeps: ``SHIM_LOCAL_KEEP_RUNS``, else 50 (use
    ``shim runs clean --all`` to remove every finished run)."""
    return envconf.integer(KEEP_ENV, DEFAULT_KEEP, minimum=1, environ=environ)


def hold(run_dir: str, reason: str, *, storage: Any = None) -> None:
    """Keep the run in ``run_dir`` from being pruned or removed until :func:`release`.

    For whoever starts something outside this process that may outlive it (a connector's
    job): write the hold *before* starting it. ``reason`` is shown to the user (by ``shim
    runs show`` / ``clean``) and says what may still run and what to do about it; no secret.
    """
    from shim.storage import default_storage, join

    (storage or default_storage()).put_bytes(join(run_dir, HOLD_FILE), reason.encode())


def release(run_dir: str, *, storage: Any = None) -> None:
    """Undo :func:`hold`: what the run started is over; the run may be pruned again."""
    from shim.storage import default_storage, join

    (storage or default_storage()).delete_object(join(run_dir, HOLD_FILE))


def _held(run_dir: str) -> str | None:
    """The reason a local run directory is held, or None."""
    try:
        with open(os.path.join(run_dir, HOLD_FILE), "rb") as f:
            return f.read().decode("utf-8", "replace").strip() or "held"
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return "held (its hold file cannot be read)"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:
        return True  # cannot tell: assume it runs
    return True


@dataclass
class RunRecord:
    """The metadata of one run (``run.json``). Unknown keys in a file are ignored."""

    name: str
    task: str = ""
    runner: str = ""
    status: str = RUNNING
    started_at: str = ""
    ended_at: str | None = None
    pid: int = 0
    host: str = ""
    #: the error document's code of a failed run (``USER:QueryError``), or the exception type
    error: str | None = None
    attempt: int = 1
    #: the run's directory (URL); not stored, filled in when read
    dir: str = dataclasses.field(default="", compare=False)
    #: why the run is held (see :func:`hold`), None when it is not; local stores only, not
    #: stored in run.json, filled in when read
    held: str | None = dataclasses.field(default=None, compare=False)

    def to_json(self) -> bytes:
        data = dataclasses.asdict(self)
        data.pop("dir")
        data.pop("held")
        return json.dumps(data, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes | str, *, name: str, dir: str) -> RunRecord:
        try:
            raw = json.loads(data)
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            return cls(name=name, status="unknown", dir=dir)
        known = {f.name for f in dataclasses.fields(cls)} - {"name", "dir", "held"}
        kwargs = {k: v for k, v in raw.items() if k in known}
        try:
            return cls(name=name, dir=dir, **kwargs)
        except TypeError:
            return cls(name=name, status="unknown", dir=dir)

    @property
    def started(self) -> float:
        """Start time as a POSIX timestamp (0 when unknown)."""
        return _parse_time(self.started_at) or 0.0

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (to now while running); None when unknown."""
        start = _parse_time(self.started_at)
        if start is None:
            return None
        end = _parse_time(self.ended_at) if self.ended_at else time.time()
        return None if end is None else max(0.0, end - start)

    def is_active(self) -> bool:
        """True while the run may still be running: its record says so and its process is
        alive (a process on another host cannot be checked: assumed alive)."""
        if self.status != RUNNING:
            return False
        if self.host and self.host != socket.gethostname():
            return True
        return _pid_alive(self.pid)

    @property
    def state(self) -> str:
        """The status to show: ``lost`` for a running record whose process is gone."""
        if self.status == RUNNING and not self.is_active():
            return LOST
        return self.status


class LocalRun:
    """One run being executed: its record, its directory, and the attempt before it."""

    def __init__(self, store: RunStore, record: RunRecord, previous: RunRecord | None) -> None:
        self.store = store
        self.record = record
        self.previous = previous

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def dir(self) -> str:
        """The run's directory (a plain absolute path for a local store, else a URL)."""
        return self.record.dir

    @property
    def stage(self) -> Stage:
        return Stage(self.record.dir)

    def finish(self, status: str, error: str | None = None) -> None:
        """Record the end of the run (``succeeded``, ``failed`` or ``interrupted``)."""
        if status not in STATUSES or status == RUNNING:
            raise ValueError(f"a run finishes as succeeded, failed or interrupted, not {status!r}")
        self.record.status = status
        self.record.error = error
        self.record.ended_at = _now()
        self.store._write(self.record)


class RunStore:
    """The runs under one root: start, read, list, prune.

    ``root`` is a local path or ``file://`` URL (made absolute) or any storage URL; default
    :func:`~shim.local.staging.default_store_root`.
    """

    def __init__(self, root: str | None = None, *, storage: Any = None) -> None:
        from shim.storage import is_local, local_path

        root = root or default_store_root()
        self.local = is_local(root)
        self.root = os.path.abspath(local_path(root)) if self.local else root.rstrip("/")
        self._storage = storage

    @property
    def storage(self) -> Any:
        if self._storage is None:
            from shim.storage import default_storage

            self._storage = default_storage()
        return self._storage

    def run_dir(self, name: str) -> str:
        """The directory of run ``name`` (whether or not it exists)."""
        from shim.storage import join

        return join(self.root, validate_run_name(name))

    # --- starting a run ----------------------------------------------------------------------

    def start(self, *, task: str, runner: str, name: str | None = None) -> LocalRun:
        """Create (or, for a name used before, reuse) a run directory and record it running.

        Raises :class:`RunInProgressError` when ``name`` names a run that is still running.
        """
        record = RunRecord(
            name="",
            task=task,
            runner=runner,
            status=RUNNING,
            started_at=_now(),
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        if name is None:
            return self._start_new(record)
        validate_run_name(name)
        record.name = name
        record.dir = self.run_dir(name)
        with self._claim(name):
            previous = self._read(name)
            if previous is not None and previous.is_active():
                raise RunInProgressError(
                    f"run {name!r} is still running (pid {previous.pid} on {previous.host}, "
                    f"started {previous.started_at}) in {previous.dir}: wait for it to end, "
                    "or give this call another run name"
                )
            if previous is not None:
                record.attempt = previous.attempt + 1
            self._write(record)
        return LocalRun(self, record, previous)

    def _start_new(self, record: RunRecord) -> LocalRun:
        for _ in range(20):
            name = new_run_name()
            record.name, record.dir = name, self.run_dir(name)
            if self.local:
                os.makedirs(self.root, exist_ok=True)
                try:
                    os.mkdir(record.dir)
                except FileExistsError:
                    continue
            self._write(record)
            return LocalRun(self, record, None)
        raise ShimError(f"could not create a new run directory under {self.root}")

    @contextlib.contextmanager
    def _claim(self, name: str) -> Iterator[None]:
        """Hold an exclusive lock on a local run's directory while its record is checked and
        written, so two calls with the same name cannot both start it."""
        if not self.local:
            yield
            return
        path = self.run_dir(name)
        os.makedirs(path, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # not POSIX
            yield
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # --- records -----------------------------------------------------------------------------

    def _write(self, record: RunRecord) -> None:
        from shim.storage import join

        if not self.local:
            self.storage.put_bytes(join(record.dir, RUN_FILE), record.to_json())
            return
        # atomic (a reader sees the old record or the new one) but not fsynced: a record lost
        # to a crash of the machine costs less than two fsyncs on every local call
        from pathlib import Path

        from shim.storage.local import atomic_path

        with atomic_path(os.path.join(record.dir, RUN_FILE), fsync=False) as tmp:
            Path(tmp).write_bytes(record.to_json())

    def _read(self, name: str) -> RunRecord | None:
        from shim.storage import join

        path = self.run_dir(name)
        if self.local:
            try:
                with open(os.path.join(path, RUN_FILE), "rb") as f:
                    data = f.read()
            except (FileNotFoundError, NotADirectoryError):
                return None
            record = RunRecord.from_json(data, name=name, dir=path)
            record.held = _held(path)
            return record
        try:
            data = self.storage.get_bytes(join(path, RUN_FILE))
        except StorageNotFoundError:
            return None
        return RunRecord.from_json(data, name=name, dir=path)

    def get(self, name: str) -> RunRecord:
        """The record of run ``name``, or of the only run whose name starts with ``name``."""
        try:
            record = self._read(name)
        except ValueError:  # not a valid run name
            record = None
        if record is not None:
            return record
        if self.local and name:
            matches = [r for r in self.list() if r.name.startswith(name)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                names = ", ".join(r.name for r in matches[:5])
                raise RunNotFoundError(
                    f"{name!r} matches {len(matches)} runs in {self.root} ({names}"
                    f"{', ...' if len(matches) > 5 else ''}): give more of the name"
                )
        raise RunNotFoundError(f"no run {name!r} in {self.root} (`shim runs list` lists them)")

    def list(self) -> list[RunRecord]:
        """Every run of a local store, newest first (by start time)."""
        if not self.local:
            raise UserError(
                f"runs can be listed in a local store only, not {self.root}",
                code="RemoteStore",
            )
        records: list[RunRecord] = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                with open(os.path.join(entry.path, RUN_FILE), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                legacy = self._unrecorded(entry)
                if legacy is not None:
                    records.append(legacy)
                continue
            except OSError:
                continue
            record = RunRecord.from_json(data, name=entry.name, dir=entry.path)
            record.held = _held(entry.path)
            records.append(record)
        records.sort(key=lambda r: (r.started, r.name), reverse=True)
        return records

    def _unrecorded(self, entry: os.DirEntry) -> RunRecord | None:
        """A directory of the layout before run records, shown (and pruned) as finished."""
        if not _LEGACY.fullmatch(entry.name):
            return None
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            return None
        if not os.path.exists(os.path.join(entry.path, "task.pb")):
            return None
        if time.time() - mtime < _UNRECORDED_GRACE:
            return None
        started = dt.datetime.fromtimestamp(mtime, dt.UTC).isoformat(timespec="milliseconds")
        return RunRecord(name=entry.name, status="unknown", started_at=started, dir=entry.path)

    # --- removing runs -----------------------------------------------------------------------

    def prune(self, keep: int) -> list[str]:
        """Remove the finished runs beyond the newest ``keep`` (0: every finished run).

        A run that may still be running, or that is held (:func:`hold`), is never removed.
        Returns the removed names. A remote store is left as it is.
        """
        if not self.local:
            return []
        if keep < 0:
            raise ValueError(f"keep must be >= 0, got {keep}")
        try:
            entries = [e.name for e in os.scandir(self.root)]
        except FileNotFoundError:
            return []
        if any(n.startswith(_TRASH) for n in entries):
            self._empty_trash()
        if sum(not n.startswith(".") for n in entries) <= keep:
            return []  # nothing to read: fewer directories than runs to keep
        removed = []
        for record in self.list()[keep:]:
            if record.is_active() or record.held:
                continue
            if self._remove_dir(record):
                removed.append(record.name)
        self._empty_trash()
        return removed

    def remove(self, name: str) -> None:
        """Remove run ``name``; refused while it is running or held."""
        record = self.get(name)
        if record.is_active():
            raise RunInProgressError(f"run {record.name!r} is still running (pid {record.pid})")
        if record.held:
            raise RunInProgressError(f"run {record.name!r} is kept: {record.held}")
        if self.local:
            self._remove_dir(record)
        else:
            self.storage.delete(record.dir)

    def _remove_dir(self, record: RunRecord) -> bool:
        # read the record again right before: a run with this name may have started meanwhile
        current = self._read(record.name) if record.status != "unknown" else record
        if current is not None and (current.is_active() or current.held):
            return False
        trash = os.path.join(self.root, f"{_TRASH}{record.name}-{secrets.token_hex(4)}")
        try:
            os.rename(record.dir, trash)  # atomic: the run disappears from listings at once
        except FileNotFoundError:
            return False  # another process removed it
        except OSError:
            trash = record.dir
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def _empty_trash(self) -> None:
        """Finish removals another process started and did not complete."""
        try:
            entries = [e for e in os.scandir(self.root) if e.name.startswith(_TRASH)]
        except FileNotFoundError:
            return
        for entry in entries:
            shutil.rmtree(entry.path, ignore_errors=True)
