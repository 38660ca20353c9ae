"""Running a connector task here: shimkit plays the platform's part, and survives its own death.

The loop does what Flyte's backend does with a connector, and persists what it must so that a
killed run can be resumed from its run directory alone:

1. the template (``task.pb``) and the inputs (``inputs.pb``) are staged in the run directory,
   then ``connector/state.json`` records the attempt *before* ``create`` is called;
2. ``create`` is called with an identity derived from the run (so a connector that is
   idempotent on it returns the same job if the process died during ``create``), and the
   returned resource meta is written to ``state.json`` **before the first poll**;
3. ``get`` is polled with backoff (first poll soon, then growing, capped); a few failed polls
   in a row are tolerated (the service may blink);
4. the outcome is written as the usual ``outputs/outputs.pb`` (outputs bound by name) or
   ``outputs/error.pb``, and ``state.json`` says the run is done.

Started again on the same run directory (``resume_connector_run`` or the same call with the
same ``run_name``), the loop reads ``state.json`` and carries on polling the *same* job:
``create`` is not called again. A run that is done returns its stored outcome.

Ctrl-C / SIGTERM, the task's ``timeout`` (per attempt, counted from the attempt's ``create``,
across resumes) and a ``timeout`` given to the call each ``delete`` the job and end with
``SYSTEM:Terminated`` or ``USER:Timeout`` (after a Ctrl-C, error.pb says so and
``KeyboardInterrupt`` is raised, as in every local run). RETRYABLE_FAILED (and a task timeout)
end the attempt; the task's ``retries`` decide whether a new attempt is created. FAILED and
ABORTED end the run with the connector's message, origin USER. Secrets named in
``custom["secrets"]`` are resolved at run time and never written to the run directory or
printed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shim import idl
from shim.connectors.base import (
    ABORTED,
    FAILED,
    RETRYABLE_FAILED,
    SUCCEEDED,
    AsyncConnector,
    ResourceMeta,
    call,
    is_terminal,
    phase_name,
    template_custom,
)
from shim.connectors.registry import ConnectorRegistry
from shim.errors import ShimError, TaskFailedError, UserError
from shim.runtime import errordoc, redaction
from shim.runtime.phases import Phase

log = logging.getLogger("shim.connectors")

STATE_FORMAT = 1
STATE_DIR = "connector"
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class RunStateError(UserError):
    """A run directory cannot be used: corrupt or foreign state, another task, held by another
    process."""

    code = "BadRunState"


@dataclass(frozen=True)
class PollPolicy:
    """How the loop polls ``get``: the first poll after ``first`` seconds, each next interval
    ``factor`` times the previous one, capped at ``max_interval``, with +-``jitter`` (a
    fraction); ``max_get_failures`` failed polls in a row end the call (the job is left
    running and the run can be resumed); ``delete_timeout`` bounds a ``delete`` on abort."""

    first: float = 0.2
    factor: float = 1.5
    max_interval: float = 10.0
    jitter: float = 0.1
    max_get_failures: int = 5
    delete_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not (self.first >= 0 and self.factor >= 1 and self.max_interval >= self.first):
            raise ValueError(
                f"PollPolicy needs first >= 0, factor >= 1, max_interval >= first; got {self}"
            )
        if self.max_get_failures < 1:
            raise ValueError("PollPolicy.max_get_failures must be >= 1")

    def intervals(self) -> Iterator[float]:
        interval = self.first
        while True:
            spread = interval * self.jitter
            yield max(0.0, interval + random.uniform(-spread, spread))
            interval = min(self.max_interval, interval * self.factor)


# --- the persisted state -----------------------------------------------------------------------


@dataclass
class RunState:
    """``<run>/connector/state.json``: everything a resumed loop needs besides task.pb and
    inputs.pb. Holds the job's resource meta, never a secret."""

    run: str
    task_type: str
    task_type_version: int
    connector: str
    max_attempts: int
    attempt: int = 1
    #: creating (create is about to be / was being called), running (resource meta stored),
    #: done (outputs.pb or error.pb written)
    status: str = "creating"
    resource_meta: str | None = None  # base64 of the connector's encoded meta
    attempt_started: str = ""  # ISO 8601, UTC: the task timeout counts from here
    last_phase: str = ""
    outcome: str = ""  # SUCCEEDED, FAILED, ABORTED, RETRYABLE_FAILED, TIMEOUT, TERMINATED, ERROR
    released: bool = False
    creates: int = 0
    resumes: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    format: int = STATE_FORMAT

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> RunState:
        try:
            doc = json.loads(data)
            if doc.get("format") != STATE_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {STATE_FORMAT}")
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in doc.items() if k in names})
        except (ValueError, TypeError, AttributeError) as e:
            raise RunStateError(f"{where} is not a shimkit connector run state: {e}") from None

    def meta_bytes(self) -> bytes:
        return base64.b64decode(self.resource_meta or "")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- what the loop works on --------------------------------------------------------------------


@dataclass(eq=False)
class _Outcome(Exception):
    """An attempt or the run ended without outputs: what goes into error.pb."""

    code: str
    recoverable: bool
    origin: str
    message: str
    outcome: str
    ends_run: bool = False  # no retry even if attempts are left (call timeout, interrupt)
    resumable: bool = False  # the job may still exist: the run is not done


class _Interrupted(Exception):
    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


class _CallTimeout(Exception):
    pass


class _AttemptTimeout(Exception):
    pass


class _Run:
    """One drive of a run directory: load or create the state, then loop to an outcome."""

    def __init__(
        self,
        stage: Any,
        storage: Any,
        *,
        run_name: str,
        poll: PollPolicy,
        timeout: float | None,
        environ: dict[str, str] | None = None,
    ) -> None:
        from shim.storage import join

        self.stage = stage
        self.storage = storage
        self.run_name = run_name
        self.poll = poll
        self.call_deadline = None if timeout is None else time.monotonic() + timeout
        self.call_timeout = timeout
        self.state_url = join(stage.base, STATE_DIR, "state.json")
        self.template = idl.TaskTemplate()
        self.template.ParseFromString(storage.get_bytes(stage.template))
        self.custom = template_custom(self.template)
        self.connector: AsyncConnector = ConnectorRegistry.get_connector(
            self.template.type, self.template.task_type_version
        )
        self.environ = environ
        self.secrets: dict[str, str] = {}  # for create: custom["secrets"]
        self.meta_secrets: dict[str, str] = {}  # for get / delete: connector.secret_refs(meta)
        self.redact = redaction.redactor()
        self.state: RunState | None = None
        self.meta: ResourceMeta | None = None
        self.interrupted: str | None = None
        self.aborting = False
        self._task: asyncio.Task | None = None

    # --- state ---------------------------------------------------------------------------

    def load_state(self) -> RunState | None:
        from shim.errors import StorageNotFoundError

        try:
            data = self.storage.get_bytes(self.state_url)
        except StorageNotFoundError:
            return None
        return RunState.from_json(data, self.state_url)

    def save(self) -> None:
        assert self.state is not None
        self.storage.put_bytes(self.state_url, self.state.to_json())

    def hold(self) -> None:
        """Keep the run directory from being pruned while a job may exist: it holds the job's
        only record (written before ``create``, removed once the run is done)."""
        from shim.local.runs import hold

        name = self.run_name
        hold(
            self.stage.base,
            f"its connector job ({self.template.type}, {self.connector.describe()}) may still "
            f"be running: `shim runs resume {name}` carries on, `shim runs resume {name} "
            "--abort` cancels it",
            storage=self.storage,
        )

    def release(self) -> None:
        from shim.local.runs import release

        release(self.stage.base, storage=self.storage)

    def new_state(self) -> RunState:
        md = self.template.metadata
        return RunState(
            run=self.run_name,
            task_type=self.template.type,
            task_type_version=self.template.task_type_version,
            connector=f"{type(self.connector).__module__}.{type(self.connector).__qualname__}",
            max_attempts=md.retries.retries + 1,
            attempt_started=_now().isoformat(),
        )

    # --- identity handed to create --------------------------------------------------------

    def execution_metadata(self) -> Any:
        """The task execution identity of this attempt: the same across resumes of the run
        directory, different for every attempt and every run directory."""
        assert self.state is not None
        where = hashlib.sha256(self.stage.base.encode()).hexdigest()[:10]
        meta = idl.TaskExecutionMetadata()
        tid = meta.task_execution_id
        tid.task_id.CopyFrom(self.template.id)
        ex = tid.node_execution_id.execution_id
        ex.project = self.template.id.project or "local"
        ex.domain = self.template.id.domain or "development"
        ex.name = self.run_name
        tid.node_execution_id.node_id = f"local-{where}"
        tid.retry_attempt = self.state.attempt - 1
        meta.max_attempts = self.state.max_attempts
        meta.namespace = "local"
        return meta

    # --- the drive -----------------------------------------------------------------------

    async def drive(self) -> None:
        """Run to an outcome: outputs.pb or error.pb, and the state updated."""
        from shim.connectors.convert import redactor, resolve_secrets

        self._task = asyncio.current_task()
        self.secrets = resolve_secrets(self.custom, self.environ)
        self.redact = redactor(self.secrets)
        assert self.state is not None
        if self.state.status == "running":
            self._load_meta()
        while True:
            if self.state.status == "creating":
                try:
                    await self._create()
                except _Interrupted as e:
                    self._finish_error(
                        _Outcome(
                            "SYSTEM:Terminated",
                            True,
                            "SYSTEM",
                            f"interrupted twice ({e.signame}) while creating the job: a job may "
                            "have been started without its resource meta being stored; check "
                            "the external system",
                            "TERMINATED",
                            ends_run=True,
                            resumable=True,
                        )
                    )
                    return
                except (_CallTimeout, _AttemptTimeout):
                    self._finish_error(
                        _Outcome(
                            "USER:Timeout",
                            True,
                            "USER",
                            "the timeout expired while creating the job; a resume calls create "
                            "again with the same identity",
                            "TIMEOUT",
                            ends_run=True,
                            resumable=True,
                        )
                    )
                    return
                except _Outcome as o:
                    if self._can_retry(o):
                        self._next_attempt(o)
                        continue
                    self._finish_error(o)
                    return
            try:
                if self.interrupted is not None:  # arrived while create was under way
                    raise _Interrupted(self.interrupted)
                resource = await self._poll_to_end()
            except _Interrupted as e:
                self._finish_error(
                    await self._abort(f"interrupted ({e.signame})", "SYSTEM:Terminated")
                )
                return
            except _CallTimeout:
                self._finish_error(
                    await self._abort(
                        f"the call's timeout of {self.call_timeout:g}s expired", "USER:Timeout"
                    )
                )
                return
            except _AttemptTimeout:
                o = await self._abort(
                    f"the task's timeout of {self._task_timeout():g}s expired in attempt "
                    f"{self.state.attempt}",
                    "USER:Timeout",
                    ends_run=False,
                )
                if self._can_retry(o):
                    self._next_attempt(o)
                    continue
                self._finish_error(o)
                return
            except _Outcome as o:
                self._finish_error(o)
                return
            if resource.phase == SUCCEEDED:
                self._finish_success(resource)
                await self._release()
                return
            o = self._failure_of(resource)
            await self._release()
            if self._can_retry(o):
                self._next_attempt(o)
                continue
            self._finish_error(o)
            return

    async def _create(self) -> None:
        from shim.connectors.convert import input_values

        assert self.state is not None
        scratch = Path(tempfile.mkdtemp(prefix="shim-connector-"))
        try:
            lm = idl.LiteralMap()
            lm.ParseFromString(self.storage.get_bytes(self.stage.inputs))
            try:
                inputs = input_values(self.template, lm, scratch, self.storage)
                self.state.creates += 1
                self.save()
                log.info(
                    "run %s: creating the job (attempt %d of %d) with %s",
                    self.run_name,
                    self.state.attempt,
                    self.state.max_attempts,
                    self.connector.describe(),
                )
                meta = await self._cancellable(
                    call(
                        self.connector.create,
                        task_template=self.template,
                        output_prefix=self.stage.outputs,
                        inputs=inputs,
                        task_execution_metadata=self.execution_metadata(),
                        **self.secrets,
                    )
                )
            except (_Interrupted, _Outcome, _CallTimeout, _AttemptTimeout):
                raise
            except Exception as e:
                raise self._error_outcome(e, "create") from None
            if not isinstance(meta, ResourceMeta):
                raise _Outcome(
                    "SYSTEM:BadResourceMeta",
                    False,
                    "SYSTEM",
                    f"{self.connector.describe()}: create returned {type(meta).__name__}, not a "
                    "ResourceMeta",
                    "ERROR",
                )
            self.meta = meta
            self.state.resource_meta = base64.b64encode(meta.encode()).decode()
            self.state.status = "running"
            self.save()  # the resource meta is durable before the first poll
            self._load_meta()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _load_meta(self) -> None:
        """Decode the stored resource meta; resolve the secrets get/delete need."""
        from shim.connectors.convert import redactor, resolve_secrets

        assert self.state is not None
        if self.meta is None:
            self.meta = self.connector.metadata_type.decode(self.state.meta_bytes())
        refs = self.connector.secret_refs(self.meta)
        self.meta_secrets = resolve_secrets({"secrets": refs}, self.environ) if refs else {}
        self.redact = redactor({**self.secrets, **self.meta_secrets})

    async def _poll_to_end(self) -> Any:
        assert self.state is not None
        self._load_meta()
        failures = 0
        for wait in self.poll.intervals():
            await self._sleep(wait)
            try:
                resource = await self._cancellable(
                    call(self.connector.get, resource_meta=self.meta, **self.meta_secrets)
                )
            except (_Interrupted, _CallTimeout, _AttemptTimeout):
                raise
            except Exception as e:
                if isinstance(e, ShimError) and e.origin == "USER" and not e.recoverable:
                    raise self._error_outcome(e, "get") from None
                failures += 1
                log.warning(
                    "run %s: get failed (%d of %d in a row): %s",
                    self.run_name,
                    failures,
                    self.poll.max_get_failures,
                    self.redact(f"{type(e).__name__}: {e}"),
                )
                if failures >= self.poll.max_get_failures:
                    raise self._unreachable(e) from None
                continue
            failures = 0
            name = phase_name(resource.phase)
            if name != self.state.last_phase:
                log.info(
                    "run %s: job is %s%s",
                    self.run_name,
                    name,
                    f": {self.redact(resource.message)}" if resource.message else "",
                )
                self.state.last_phase = name
                self.save()
            if is_terminal(resource.phase) or resource.phase == RETRYABLE_FAILED:
                return resource
        raise AssertionError("unreachable")

    # --- waiting, deadlines, interruption ---------------------------------------------------

    def _task_timeout(self) -> float | None:
        md = self.template.metadata
        if not md.HasField("timeout"):
            return None
        seconds = md.timeout.ToTimedelta().total_seconds()
        return seconds if seconds > 0 else None

    def _deadlines(self) -> tuple[float | None, float | None]:
        """Seconds left until the call's and the attempt's deadlines (None: no deadline)."""
        assert self.state is not None
        call_left = None if self.call_deadline is None else self.call_deadline - time.monotonic()
        attempt_left = None
        limit = self._task_timeout()
        if limit is not None:
            started = dt.datetime.fromisoformat(self.state.attempt_started)
            attempt_left = limit - (_now() - started).total_seconds()
        return call_left, attempt_left

    def _check_deadlines(self) -> None:
        call_left, attempt_left = self._deadlines()
        if call_left is not None and call_left <= 0:
            raise _CallTimeout()
        if attempt_left is not None and attempt_left <= 0:
            raise _AttemptTimeout()

    async def _sleep(self, seconds: float) -> None:
        self._check_deadlines()
        call_left, attempt_left = self._deadlines()
        limits = [seconds] + [x for x in (call_left, attempt_left) if x is not None]
        await self._cancellable(asyncio.sleep(max(0.0, min(limits))))
        self._check_deadlines()

    async def _cancellable(self, aw: Any) -> Any:
        """Await ``aw``; a signal (Ctrl-C, SIGTERM) or a deadline cancels it."""
        call_left, attempt_left = self._deadlines()
        limits = [x for x in (call_left, attempt_left) if x is not None]
        try:
            if limits:
                return await asyncio.wait_for(aw, max(0.0, min(limits)))
            return await aw
        except asyncio.CancelledError:
            if self.interrupted is not None:
                raise _Interrupted(self.interrupted) from None
            raise
        except TimeoutError:
            self._check_deadlines()
            raise

    def on_signal(self, signame: str) -> None:
        if self.interrupted is None:
            self.interrupted = signame
            log.warning("run %s: %s received: deleting the job", self.run_name, signame)
            if self.state is not None and self.state.status == "creating":
                return  # let create finish, so the job it starts can be deleted
            if self._task is not None:
                self._task.cancel()
        elif self._task is not None:
            self._task.cancel()  # a second signal: stop waiting (for create or delete)

    # --- outcomes ----------------------------------------------------------------------------

    def _error_outcome(self, exc: BaseException, where: str) -> _Outcome:
        c = errordoc.classify(exc, phase=Phase.EXECUTE, redact=self.redact)
        message = f"{self.connector.describe()}: {where} failed\n\n" + c.message
        return _Outcome(c.code, c.recoverable, c.origin, message, "ERROR")

    def _unreachable(self, exc: BaseException) -> _Outcome:
        msg = (
            f"{self.connector.describe()}: get failed {self.poll.max_get_failures} times in a row "
            f"(last: {type(exc).__name__}: {exc}). The job was not deleted and may still be "
            f"running: resume the run with `shim runs resume {self.stage.base}` once the "
            f"service is back, or cancel it with `shim runs resume --abort {self.stage.base}`"
        )
        return _Outcome(
            "SYSTEM:ConnectorUnavailable",
            True,
            "SYSTEM",
            msg,
            "UNREACHABLE",
            ends_run=True,
            resumable=True,
        )

    def _failure_of(self, resource: Any) -> _Outcome:
        name = phase_name(resource.phase)
        text = resource.message or f"the job ended in phase {name} without a message"
        if resource.phase == FAILED:
            return _Outcome("USER:JobFailed", False, "USER", text, "FAILED")
        if resource.phase == ABORTED:
            return _Outcome("USER:JobAborted", False, "USER", text, "ABORTED")
        return _Outcome("USER:RetryableFailure", True, "USER", text, "RETRYABLE_FAILED")

    async def _abort(self, why: str, code: str, *, ends_run: bool = True) -> _Outcome:
        """Delete the job (bounded), then the outcome of the run or attempt."""
        assert self.state is not None
        origin = code.split(":", 1)[0]
        outcome = "TERMINATED" if origin == "SYSTEM" else "TIMEOUT"
        self.aborting = True
        try:
            await asyncio.wait_for(
                call(self.connector.delete, resource_meta=self.meta, **self.meta_secrets),
                self.poll.delete_timeout,
            )
        except (Exception, asyncio.CancelledError) as e:
            detail = (
                "gave up waiting (interrupted again)"
                if isinstance(e, asyncio.CancelledError)
                else f"{type(e).__name__}: {e}"
            )
            if isinstance(e, TimeoutError):
                detail = f"no answer within {self.poll.delete_timeout:g}s"
            message = (
                f"{why}; deleting the job FAILED ({detail}): it may still be running. Resource "
                f"meta: {self.state.meta_bytes().decode('utf-8', 'replace')}; retry with "
                f"`shim runs resume --abort {self.stage.base}`"
            )
            # the job may live on: keep the run resumable
            return _Outcome(code, True, origin, message, outcome, ends_run=True, resumable=True)
        finally:
            self.aborting = False
        log.info("run %s: job deleted (%s)", self.run_name, why)
        self.state.released = True
        return _Outcome(
            code, True, origin, f"{why}; the job was deleted", outcome, ends_run=ends_run
        )

    def _record(self, o: _Outcome) -> None:
        assert self.state is not None
        self.state.history.append(
            {
                "attempt": self.state.attempt,
                "outcome": o.outcome,
                "code": o.code,
                "message": self.redact(o.message)[-2000:],
                "ended": _now().isoformat(),
            }
        )

    def _can_retry(self, o: _Outcome) -> bool:
        assert self.state is not None
        return (
            o.recoverable
            and not o.ends_run
            and not o.resumable
            and self.state.attempt < self.state.max_attempts
        )

    def _next_attempt(self, o: _Outcome) -> None:
        """Record the failed attempt and start the next one (create is called again)."""
        assert self.state is not None
        self._record(o)
        log.info(
            "run %s: attempt %d ended (%s); retrying (attempt %d of %d)",
            self.run_name,
            self.state.attempt,
            o.code,
            self.state.attempt + 1,
            self.state.max_attempts,
        )
        self.state.attempt += 1
        self.state.status = "creating"
        self.state.resource_meta = None
        self.state.last_phase = ""
        self.state.released = False
        self.state.attempt_started = _now().isoformat()
        self.meta = None
        self.save()

    def _finish_success(self, resource: Any) -> None:
        from shim.connectors.convert import typed_outputs
        from shim.storage import join
        from shim.types import TransferContext

        assert self.state is not None
        scratch = Path(tempfile.mkdtemp(prefix="shim-connector-out-"))
        try:
            outputs = resource.outputs
            # file-based outputs: the connector wrote outputs.pb itself (as Flyte allows)
            if (
                outputs is None
                and self.template.interface.outputs.variables
                and self.storage.exists(join(self.stage.outputs, "outputs.pb"))
            ):
                self._mark_done("SUCCEEDED")
                return
            ctx = TransferContext(
                storage=self.storage,
                raw_output_prefix=self.stage.raw,
                scratch_dir=scratch,
                defer_uploads=True,
            )
            try:
                lm = typed_outputs(self.template, outputs, ctx)
                ctx.flush()
            except Exception as e:
                self._finish_error(self._error_outcome(e, "encoding the outputs of"))
                return
            self.storage.put_bytes(join(self.stage.outputs, "outputs.pb"), idl.serialize(lm))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self._mark_done("SUCCEEDED")

    def _finish_error(self, o: _Outcome) -> None:
        from shim.storage import join

        assert self.state is not None
        self._record(o)
        doc = errordoc.error_document(
            errordoc.Classified(o.code, o.recoverable, o.origin, o.message), redact=self.redact
        )
        self.storage.put_bytes(join(self.stage.outputs, "error.pb"), idl.serialize(doc))
        if o.resumable:
            # the job may still run: stay resumable (a resume clears this error.pb)
            self.state.outcome = ""
            self.save()
            return
        self._mark_done(o.outcome)

    def _mark_done(self, outcome: str) -> None:
        assert self.state is not None
        self.state.status = "done"
        self.state.outcome = outcome
        self.save()
        self.release()
        log.info("run %s: done (%s)", self.run_name, outcome)

    async def _release(self) -> None:
        """Give a finished job back (``release_on_completion`` connectors), best effort."""
        assert self.state is not None
        if (
            not self.connector.release_on_completion
            or self.state.released
            or not self.state.resource_meta
        ):
            return
        try:
            self._load_meta()
            await asyncio.wait_for(
                call(self.connector.delete, resource_meta=self.meta, **self.meta_secrets),
                self.poll.delete_timeout,
            )
            self.state.released = True
            self.save()
        except Exception as e:
            log.warning(
                "run %s: could not release the finished job: %s",
                self.run_name,
                self.redact(f"{type(e).__name__}: {e}"),
            )


# --- running the loop on this thread -----------------------------------------------------------


def _run_coroutine(run: _Run, main: Any) -> Any:
    """Run ``main()`` on a fresh event loop; Ctrl-C and SIGTERM go to ``run.on_signal``."""

    def target() -> Any:
        loop = asyncio.new_event_loop()
        installed: list[tuple[int, Any]] = []
        try:
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    try:
                        previous = signal.getsignal(sig)
                        loop.add_signal_handler(sig, run.on_signal, sig.name)
                        installed.append((sig, previous))
                    except (ValueError, RuntimeError, NotImplementedError):
                        pass
            return loop.run_until_complete(main())
        finally:
            for sig, previous in installed:
                loop.remove_signal_handler(sig)
                signal.signal(sig, previous)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return target()
    # called from async code: keep that loop free, drive this one on a worker thread
    result: dict[str, Any] = {}

    def worker() -> None:
        try:
            result["value"] = target()
        except BaseException as e:
            result["error"] = e

    t = threading.Thread(target=worker, name="shim-connector-loop")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


@contextlib.contextmanager
def _run_lock(stage: Any) -> Iterator[None]:
    """One driver per local run directory at a time (the lock dies with its process)."""
    from shim.storage import is_local, local_path

    if not is_local(stage.base):
        yield
        return
    import fcntl

    directory = Path(local_path(stage.base)) / STATE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunStateError(
                f"run directory {stage.base} is being driven by another process right now; wait "
                "for it, or stop it first"
            ) from None
        yield
    finally:
        os.close(fd)


def drive_run(
    stage: Any,
    *,
    run_name: str,
    storage: Any = None,
    timeout: float | None = None,
    poll: PollPolicy | None = None,
    abort: bool = False,
    environ: dict[str, str] | None = None,
) -> str:
    """Drive the connector run staged at ``stage`` (task.pb and inputs.pb present) to its end;
    returns the outcome (``SUCCEEDED``, ``FAILED``, ...). Resumes from ``state.json`` when it
    exists; a run that is done is left as it is. ``abort=True`` deletes the job instead of
    polling it. The result is in ``stage.outputs`` (outputs.pb or error.pb). Ctrl-C (SIGINT)
    deletes the job, stores ``SYSTEM:Terminated``, then raises ``KeyboardInterrupt``."""
    from shim.storage import default_storage, join

    storage = storage or default_storage()
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    with _run_lock(stage):
        run = _Run(
            stage,
            storage,
            run_name=run_name,
            poll=poll or PollPolicy(),
            timeout=timeout,
            environ=environ,
        )
        state = run.load_state()
        if state is None:
            if abort:
                raise RunStateError(f"no connector run at {stage.base}: nothing to abort")
            state = run.new_state()
            run.state = state
            run.hold()  # before create: a job may exist from here on
            run.save()
        else:
            run.state = state
            if state.task_type != run.template.type:
                raise RunStateError(
                    f"{run.state_url} belongs to task type {state.task_type!r}, but task.pb is "
                    f"of type {run.template.type!r}"
                )
            if state.status == "done":
                run.release()  # in case the process died right after recording the end
                if not state.released and run.connector.release_on_completion:
                    _run_coroutine(run, run._release)
                return state.outcome
            run.hold()  # a run staged before holds existed
            state.resumes += 1
            run.save()
            if state.status == "running":
                log.info(
                    "run %s: resuming attempt %d: polling the job created at %s (create is not "
                    "called again)",
                    run_name,
                    state.attempt,
                    state.attempt_started,
                )
            else:
                log.info(
                    "run %s: resuming attempt %d: create was under way, calling it again "
                    "with the same identity",
                    run_name,
                    state.attempt,
                )
        # a previous drive of this run may have left an error.pb (service unreachable)
        storage.delete_object(join(stage.outputs, "error.pb"))

        async def main() -> None:
            run._task = asyncio.current_task()
            if abort:
                from shim.connectors.convert import redactor, resolve_secrets

                run.secrets = resolve_secrets(run.custom, environ)
                run.redact = redactor(run.secrets)
                if state.status == "running":
                    run._load_meta()
                    run._finish_error(await run._abort("aborted on request", "SYSTEM:Terminated"))
                else:
                    run._finish_error(
                        _Outcome(
                            "SYSTEM:Terminated",
                            True,
                            "SYSTEM",
                            "aborted on request before a job was created",
                            "TERMINATED",
                            ends_run=True,
                        )
                    )
                return
            await run.drive()

        try:
            _run_coroutine(run, main)
        except ShimError as e:  # e.g. a secret that is nowhere, a resource meta it cannot read
            # the job (if any) is left as it is: fix the cause and run again to carry on
            run._finish_error(
                _Outcome(
                    f"{e.origin}:{e.code}",
                    e.recoverable,
                    e.origin,
                    errordoc.format_message(e, run.redact),
                    "ERROR",
                    resumable=True,
                )
            )
        if run.interrupted == "SIGINT":
            # Ctrl-C: the job is deleted and error.pb says SYSTEM:Terminated; the caller stops
            # as at a Ctrl-C in any other local run
            raise KeyboardInterrupt
        return run.state.outcome or "RUNNING"


# --- the public entry points ------------------------------------------------------------------


def run_connector_task(
    task: Any,
    inputs: dict[str, Any],
    *,
    store: str | None = None,
    run_name: str | None = None,
    timeout: float | None = None,
) -> Any:
    """Run a connector task locally and return its outputs (as a local task call does): a run
    of the local runs store, ``<store>/<run_name>`` (``store`` defaults to
    ``SHIM_LOCAL_STORE`` or ``<tmp>/shimkit-runs``; ``run_name`` to a generated name).
    Calling it again with the same ``store`` and ``run_name`` resumes that run: the same job
    is polled, ``create`` is not called again, and a finished run returns its stored outcome.
    ``timeout`` (seconds) bounds this call: when it expires the job is deleted
    (``USER:Timeout``). A failed run raises :class:`~shim.errors.TaskFailedError`."""
    from shim.local.runcontext import with_runcontext

    return with_runcontext(store=store, name=run_name, timeout=timeout).run(task, **inputs)


def resume_connector_run(
    run_dir: str,
    *,
    timeout: float | None = None,
    poll: PollPolicy | None = None,
    abort: bool = False,
) -> Any:
    """Resume (or, with ``abort=True``, cancel) the connector run in ``run_dir`` from what it
    persisted there; returns its outputs decoded with the types of its template, or raises
    :class:`~shim.errors.TaskFailedError`."""
    from shim.local.staging import Stage
    from shim.storage import default_storage, is_local, local_path

    if is_local(run_dir):
        run_dir = os.path.abspath(local_path(run_dir))
    stage = Stage(run_dir.rstrip("/"))
    storage = default_storage()
    if not storage.exists(stage.template):
        raise RunStateError(f"{run_dir} is not a run directory: it has no task.pb")
    name = stage.base.rstrip("/").rsplit("/", 1)[-1]
    drive_run(stage, run_name=name, storage=storage, timeout=timeout, poll=poll, abort=abort)
    return collect_template_outputs(stage, storage)


def collect_template_outputs(stage: Any, storage: Any) -> Any:
    """A run's outputs decoded with the Python types guessed from its template."""
    from shim.local.runner import collect_outputs
    from shim.task.interface import NativeInterface
    from shim.types import python_type_of

    tt = idl.TaskTemplate()
    tt.ParseFromString(storage.get_bytes(stage.template))
    outputs = {n: python_type_of(v.type) for n, v in tt.interface.outputs.variables.items()}
    view = _TaskView(tt.id.name, NativeInterface({}, dict(sorted(outputs.items()))))
    return collect_outputs(view, stage, storage)


@dataclass
class _TaskView:
    """What ``collect_outputs`` needs of a task, for a run known only by its template."""

    name: str
    interface: Any

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1] or "task"


def policy_of(task: Any) -> PollPolicy | None:
    policy = getattr(task, "poll_policy", None)
    return policy if isinstance(policy, PollPolicy) else None


def stage_task(task: Any, inputs: dict[str, Any], stage: Any, storage: Any) -> None:
    """Write task.pb and inputs.pb, or check that a resumed run is the same task."""
    from shim.errors import StorageNotFoundError
    from shim.task.serialize import to_bytes
    from shim.task.template import SerializationContext
    from shim.types import TransferContext, python_to_literal_map

    template = to_bytes(task, SerializationContext())
    try:
        existing = storage.get_bytes(stage.template)
    except StorageNotFoundError:
        existing = None
    if existing is not None:
        if existing != template:
            raise RunStateError(
                f"run {stage.base} exists and holds another task (or another version of this "
                "one); choose another run name to run it"
            )
        _check_same_inputs(task, inputs, stage, storage)
        return
    scratch = Path(tempfile.mkdtemp(prefix="shim-local-"))
    try:
        ctx = TransferContext(
            storage=storage, raw_output_prefix=stage.input_data, scratch_dir=scratch
        )
        literals = python_to_literal_map(inputs, task.interface.inputs, ctx, what="input")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    storage.put_bytes(stage.inputs, idl.serialize(literals))
    storage.put_bytes(stage.template, template)  # last: its presence marks a staged run


def _check_same_inputs(task: Any, inputs: dict[str, Any], stage: Any, storage: Any) -> None:
    from shim.types import TransferContext, python_to_literal_map

    stored = idl.LiteralMap()
    stored.ParseFromString(storage.get_bytes(stage.inputs))
    scratch = Path(tempfile.mkdtemp(prefix="shim-local-"))
    try:
        ctx = TransferContext(storage=storage, raw_output_prefix=None, scratch_dir=scratch)
        fresh = python_to_literal_map(inputs, task.interface.inputs, ctx, what="input")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if idl.serialize(fresh) == idl.serialize(stored):
        return
    if b"://" in idl.serialize(stored):  # offloaded inputs were uploaded: cannot compare
        log.warning("run %s: resuming with the inputs it was started with", stage.base)
        return
    raise RunStateError(
        f"run {stage.base} exists with other inputs; choose another run name to run the task "
        "with these inputs (or call it with the same inputs to resume it)"
    )


def describe_run(run_dir: str) -> dict[str, Any]:
    """The stored state of a connector run (for ``shim connectors status``), without secrets."""
    from shim.local.staging import Stage
    from shim.storage import default_storage, is_local, join, local_path

    if is_local(run_dir):
        run_dir = os.path.abspath(local_path(run_dir))
    storage = default_storage()
    url = join(Stage(run_dir).base, STATE_DIR, "state.json")
    state = RunState.from_json(storage.get_bytes(url), url)
    doc = dataclasses.asdict(state)
    doc["resource_meta"] = (
        state.meta_bytes().decode("utf-8", "replace") if state.resource_meta else None
    )
    return doc


__all__ = [
    "PollPolicy",
    "RunState",
    "RunStateError",
    "TaskFailedError",
    "describe_run",
    "drive_run",
    "resume_connector_run",
    "run_connector_task",
]
