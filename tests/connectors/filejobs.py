"""A connector whose "external system" is a directory of job records (JSON files).

It is what the loop and the service are tested against without a container engine: the jobs
outlive any process (records on disk), every call is counted on the system's side, and
``delete`` really cancels (the record says so and later ``get`` calls see ABORTED).

The template's ``custom`` drives a job: ``jobs_dir``; ``script``, the phases successive
``get`` calls return (the last one repeats); ``outputs``; ``message``; ``create_error`` (create
raises it); ``get_errors`` (the first N gets raise ConnectionError); ``get_error_always``;
``probe``, a file whose content must mention the job when ``get`` is first called (the run's
state.json: proves the resource meta was persisted before the first poll); ``leak``: create
raises an error quoting the secret ``token`` (to test redaction); ``get_delay``: seconds each
``get`` takes after it is logged (a call in flight); ``delete_errors``: the first N deletes
raise (the job is not cancelled).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from shim.connectors import (
    AsyncConnector,
    ConnectorRegistry,
    Resource,
    ResourceMeta,
    template_custom,
)
from shim.connectors.base import Phase

TASK_TYPE = "test_file_job"


@dataclasses.dataclass
class FileJobMeta(ResourceMeta):
    jobs_dir: str
    job_id: str


def record_path(jobs_dir: str, job_id: str) -> Path:
    return Path(jobs_dir) / f"{job_id}.json"


def read_record(jobs_dir: str, job_id: str) -> dict[str, Any]:
    return json.loads(record_path(jobs_dir, job_id).read_text())


def write_record(jobs_dir: str, job_id: str, rec: dict[str, Any]) -> None:
    path = record_path(jobs_dir, job_id)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(rec, sort_keys=True))
    os.replace(tmp, path)


def all_records(jobs_dir: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(Path(jobs_dir).glob("*.json"))]


def count_calls(jobs_dir: str, what: str) -> int:
    path = Path(jobs_dir) / "calls.log"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.split()[0] == what)


def _log_call(jobs_dir: str, what: str, job_id: str) -> None:
    with open(Path(jobs_dir) / "calls.log", "a") as f:
        f.write(f"{what} {job_id} {os.getpid()}\n")


class FileJobConnector(AsyncConnector[FileJobMeta]):
    name = "file-jobs"
    task_type_name = TASK_TYPE
    metadata_type = FileJobMeta

    async def create(
        self, task_template, output_prefix, inputs=None, task_execution_metadata=None, **secrets
    ):
        custom = template_custom(task_template)
        jobs_dir = custom["jobs_dir"]
        identity = (
            str(task_execution_metadata.task_execution_id)
            if task_execution_metadata
            else output_prefix
        )
        job_id = hashlib.sha256(identity.encode()).hexdigest()[:16]
        _log_call(jobs_dir, "create", job_id)
        if custom.get("create_error"):
            raise RuntimeError(custom["create_error"])
        if custom.get("leak"):
            raise RuntimeError(f"the service refused token {secrets.get('api_token')}")
        if not record_path(jobs_dir, job_id).exists():  # idempotent on the execution identity
            write_record(
                jobs_dir,
                job_id,
                {
                    "id": job_id,
                    "identity": identity,
                    "inputs": {k: v for k, v in (inputs or {}).items()},
                    "script": custom.get("script", ["SUCCEEDED"]),
                    "outputs": _ints(custom.get("outputs", {})),
                    "message": custom.get("message", ""),
                    "get_errors": int(custom.get("get_errors", 0)),
                    "get_error_always": bool(custom.get("get_error_always", False)),
                    "probe": custom.get("probe", ""),
                    "get_delay": float(custom.get("get_delay", 0)),
                    "delete_errors": int(custom.get("delete_errors", 0)),
                    "deletes": 0,
                    "polls": 0,
                    "deleted": False,
                    "state_seen_at_first_get": None,
                    "token_sha": hashlib.sha256(secrets["api_token"].encode()).hexdigest()
                    if "api_token" in secrets
                    else None,
                },
            )
        return FileJobMeta(jobs_dir=jobs_dir, job_id=job_id)

    async def get(self, resource_meta, **kwargs):
        rec = read_record(resource_meta.jobs_dir, resource_meta.job_id)
        _log_call(resource_meta.jobs_dir, "get", resource_meta.job_id)
        if rec.get("get_delay"):
            await asyncio.sleep(rec["get_delay"])
        rec["polls"] += 1
        if rec["polls"] == 1 and rec["probe"]:
            probe = Path(rec["probe"])
            rec["state_seen_at_first_get"] = probe.exists() and resource_meta.job_id in _meta_of(
                probe
            )
        write_record(resource_meta.jobs_dir, resource_meta.job_id, rec)
        if rec["get_error_always"] or rec["polls"] <= rec["get_errors"]:
            raise ConnectionError("the job service is down")
        if rec["deleted"]:
            return Resource(Phase.ABORTED, message="the job was deleted")
        script = rec["script"]
        phase = Phase.Value(script[min(rec["polls"] - 1, len(script) - 1)])
        outputs = rec["outputs"] if phase == Phase.SUCCEEDED else None
        return Resource(
            phase,
            message=rec["message"],
            outputs=outputs,
            log_links=[
                (
                    "job record",
                    f"file://{record_path(resource_meta.jobs_dir, resource_meta.job_id)}",
                )
            ],
            custom_info={"polls": rec["polls"]},
        )

    async def delete(self, resource_meta, **kwargs):
        _log_call(resource_meta.jobs_dir, "delete", resource_meta.job_id)
        rec = read_record(resource_meta.jobs_dir, resource_meta.job_id)
        rec["deletes"] = rec.get("deletes", 0) + 1
        if rec["deletes"] <= rec.get("delete_errors", 0):
            write_record(resource_meta.jobs_dir, resource_meta.job_id, rec)
            raise RuntimeError("the job service refused to cancel")
        rec["deleted"] = True
        write_record(resource_meta.jobs_dir, resource_meta.job_id, rec)

    async def get_logs(self, resource_meta, **kwargs):
        rec = read_record(resource_meta.jobs_dir, resource_meta.job_id)
        yield f"job {rec['id']} polled {rec['polls']} times"
        yield ["second line", "third line"]


def _ints(value: Any) -> Any:
    """Numbers come out of the template's Struct as floats: whole ones back to int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _meta_of(state_file: Path) -> str:
    """The decoded resource meta stored in a run's state.json ('' when there is none)."""
    import base64

    try:
        doc = json.loads(state_file.read_text())
        return base64.b64decode(doc.get("resource_meta") or "").decode()
    except (OSError, ValueError):
        return ""


ConnectorRegistry.register(FileJobConnector(), override=True)


# --- the task side ---------------------------------------------------------------------------

from shim.connectors import AsyncConnectorExecutorMixin, PollPolicy  # noqa: E402
from shim.task.interface import NativeInterface  # noqa: E402
from shim.task.template import TaskTemplate  # noqa: E402

FAST = PollPolicy(first=0.01, factor=1.5, max_interval=0.05, jitter=0.0, max_get_failures=3)


class FileJobTask(AsyncConnectorExecutorMixin, TaskTemplate):
    """A task run by :class:`FileJobConnector`; ``custom`` is the job's behaviour."""

    poll_policy = FAST

    def __init__(
        self,
        name: str,
        custom: dict[str, Any],
        inputs: dict | None = None,
        outputs: dict | None = None,
        **kwargs: Any,
    ) -> None:
        self._custom = dict(custom)
        kwargs.setdefault("task_type", TASK_TYPE)
        super().__init__(
            name=name,
            interface=NativeInterface(dict(inputs or {}), dict(outputs or {})),
            **kwargs,
        )

    def custom_config(self, sctx: Any) -> dict[str, Any]:
        return dict(self._custom)
