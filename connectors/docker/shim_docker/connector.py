"""``DockerJobConnector``: a task's job is a container on a Docker-compatible engine.

- ``create`` starts a container named after the task execution identity (so a second
  ``create`` for the same execution finds the same container instead of starting another),
  with the inputs and the job's secrets copied in as files before it starts;
- ``get`` maps the container's state to a phase; when it exited 0, its outputs are read back
  from ``<outputs_dir>/<name>`` (the container stays on the engine, so ``get`` can be called
  again by a platform that restarted);
- ``delete`` stops (SIGTERM, then SIGKILL after ``stop_grace``) and removes it; a container
  that is already gone is fine;
- ``get_logs`` yields its log lines.

The resource meta holds the container's name, the engine URL and the output types: nothing
secret. The docker SDK is synchronous, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import re
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from shim import envconf
from shim.connectors import AsyncConnector, Resource, ResourceMeta, template_custom
from shim.connectors.base import (
    ABORTED,
    FAILED,
    QUEUED,
    RETRYABLE_FAILED,
    RUNNING,
    SUCCEEDED,
)
from shim.errors import ShimError, UserError
from shim_docker.config import RETRYABLE_EXIT_CODE, TASK_TYPE, ContainerJobConfig

#: labels on every job container
LABEL_JOB = "io.shimkit.job"
LABEL_EXECUTION = "io.shimkit.job.execution"
LABEL_RUN = "io.shimkit.job.run"
#: exited job containers older than this many seconds are removed by later creates
#: (``SHIM_DOCKER_RETENTION``; 0 keeps them): the platform never deletes a finished job
DEFAULT_RETENTION = 3600.0
_LOG_TAIL = 20
#: container states of a job that ended ("stopped": podman, exited but not cleaned up yet)
_FINISHED = frozenset({"exited", "stopped", "dead"})
_PLACEHOLDER = re.compile(r"\{\{\s*\.inputs\.(\w+)\s*\}\}", re.IGNORECASE)
_SIMPLE = {
    "INTEGER": "int",
    "FLOAT": "float",
    "STRING": "str",
    "BOOLEAN": "bool",
    "DATETIME": "datetime",
}


class JobSpecError(UserError):
    """The task cannot run as a container job (bad config, unsupported input or output type,
    an image that cannot be found)."""

    code = "JobSpecError"


class EngineUnavailable(ShimError):
    """The container engine does not answer."""

    origin = "SYSTEM"
    recoverable = True
    code = "EngineUnavailable"


@dataclass
class ContainerJobMeta(ResourceMeta):
    """The job's only durable state: where its container is and how to read its outputs."""

    container: str
    engine: str | None = None
    outputs_dir: str = "/var/outputs"
    output_types: dict[str, str] = field(default_factory=dict)
    stop_grace: float = 10.0
    created_at: dt.datetime | None = None


class DockerJobConnector(AsyncConnector[ContainerJobMeta]):
    name = "docker"
    task_type_name = TASK_TYPE
    task_type_version = 0
    metadata_type = ContainerJobMeta
    release_on_completion = True

    async def create(
        self,
        task_template: Any,
        output_prefix: str,
        inputs: dict[str, Any] | None = None,
        task_execution_metadata: Any = None,
        **secrets: str,
    ) -> ContainerJobMeta:
        cfg = _config(task_template)
        identity, run = execution_identity(task_execution_metadata, output_prefix)
        meta = ContainerJobMeta(
            container=container_name(identity),
            engine=cfg.engine,
            outputs_dir=cfg.outputs_dir,
            output_types=_output_types(task_template),
            stop_grace=cfg.stop_grace,
            created_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        )
        await asyncio.to_thread(
            _create, cfg, meta, identity, run, dict(inputs or {}), task_template, secrets
        )
        return meta

    async def get(self, resource_meta: ContainerJobMeta, **kwargs: Any) -> Resource:
        return await asyncio.to_thread(_get, resource_meta)

    async def delete(self, resource_meta: ContainerJobMeta, **kwargs: Any) -> None:
        await asyncio.to_thread(_delete, resource_meta)

    async def get_logs(self, resource_meta: ContainerJobMeta, **kwargs: Any) -> Any:
        lines = kwargs.get("lines") or None
        text = await asyncio.to_thread(_logs, resource_meta, lines)
        for line in text.splitlines():
            yield line


# --- identity ------------------------------------------------------------------------------


def execution_identity(metadata: Any, output_prefix: str) -> tuple[str, str]:
    """(identity, run name) of a task execution: project/domain/execution/node/task/version/
    attempt from ``task_execution_metadata``; else the output prefix (unique per attempt)."""
    if metadata is not None and metadata.HasField("task_execution_id"):
        t = metadata.task_execution_id
        ex = t.node_execution_id.execution_id
        parts = [
            ex.project,
            ex.domain,
            ex.name,
            t.node_execution_id.node_id,
            t.task_id.name,
            t.task_id.version,
            str(t.retry_attempt),
        ]
        if ex.name or t.node_execution_id.node_id:
            return "/".join(parts), ex.name
    if not output_prefix:
        raise JobSpecError("create needs a task execution identity or an output prefix")
    return f"prefix:{output_prefix}", ""


def container_name(identity: str) -> str:
    return "shim-job-" + hashlib.sha256(identity.encode()).hexdigest()[:24]


# --- the engine ----------------------------------------------------------------------------


def _client(engine: str | None) -> Any:
    try:
        import docker
    except ImportError as e:  # pragma: no cover - a dependency of this distribution
        raise EngineUnavailable("the docker SDK is not installed: pip install docker") from e
    where = engine or envconf.text("DOCKER_HOST") or "the default Docker socket"
    try:
        client = docker.DockerClient(base_url=engine) if engine else docker.from_env()
        client.ping()
    except Exception as e:
        raise EngineUnavailable(
            f"the container engine at {where} does not answer ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200] if str(e) else ''}); start it, or point DOCKER_HOST "
            "(or the task's engine) at a running one"
        ) from None
    return client


def _config(task_template: Any) -> ContainerJobConfig:
    from shim.types import from_jsonable

    custom = {k: v for k, v in template_custom(task_template).items() if k != "secrets"}
    try:
        cfg = from_jsonable(ContainerJobConfig, custom, name="custom")
    except (TypeError, ValueError) as e:
        raise JobSpecError(f"the template's custom is not a container job: {e}") from None
    if not cfg.image or not cfg.command:
        raise JobSpecError("a container job needs an image and a non-empty command")
    return cfg


def _output_types(task_template: Any) -> dict[str, str]:
    out = {}
    for name, var in task_template.interface.outputs.variables.items():
        lt = var.type
        kind = lt.WhichOneof("type")
        if kind == "simple":
            from shim import idl

            simple = idl.SimpleType.Name(lt.simple)
            if simple in _SIMPLE:
                out[name] = _SIMPLE[simple]
                continue
            if simple == "STRUCT":
                out[name] = "json"
                continue
        elif kind in ("collection_type", "map_value_type"):
            out[name] = "json"
            continue
        raise JobSpecError(
            f"output {name!r}: a container job writes its outputs as text files; its type "
            f"({kind}) is not int, float, str, bool, datetime, a list, a dict or a dataclass"
        )
    return out


def _is_data(value: Any) -> bool:
    """A File, Directory or DataFrame: copied into the job, named by its path there."""
    from shim.types import DataFrame, Directory, File

    return isinstance(value, File | Directory | DataFrame)


def _text(name: str, value: Any, cfg: ContainerJobConfig) -> str:
    """An input as the text a command line or a file receives (a File, Directory or
    DataFrame: where the job finds its copy)."""
    if _is_data(value):
        return f"{cfg.inputs_dir.rstrip('/')}/{name}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return json.dumps(_jsonable(value), sort_keys=True)


def _jsonable(value: Any) -> Any:
    import dataclasses
    import enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def render_command(command: list[str], texts: dict[str, str]) -> list[str]:
    def sub(m: re.Match) -> str:
        name = m.group(1)
        for k, v in texts.items():
            if k.lower() == name.lower():
                return v
        raise JobSpecError(
            f"command placeholder {m.group(0)!r} names no input (inputs: {sorted(texts) or 'none'})"
        )

    return [_PLACEHOLDER.sub(sub, arg) for arg in command]


def _archive(
    cfg: ContainerJobConfig,
    texts: dict[str, str],
    inputs: dict[str, Any],
    secrets: dict[str, str],
    out: IO[bytes],
) -> None:
    """Write to ``out`` a tar of the input files and secret files, extracted at ``/`` before
    the job starts (a file, not memory: File, Directory and DataFrame inputs are copied in)."""
    now = time.time()
    with tarfile.open(fileobj=out, mode="w") as tar:

        def add_file(path: str, data: bytes, mode: int) -> None:
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))

        _tar_dir(tar, cfg.inputs_dir, now)
        for name, text in texts.items():
            value = inputs.get(name)
            if _is_data(value):
                _add_data(tar, name, value, f"{cfg.inputs_dir}/{name}", now)
            else:
                add_file(f"{cfg.inputs_dir}/{name}", text.encode(), 0o444)
        values = {k: texts[k] if _is_data(v) else _jsonable(v) for k, v in inputs.items()}
        doc = json.dumps(values, sort_keys=True, default=str)
        add_file(f"{cfg.inputs_dir}/inputs.json", doc.encode(), 0o444)
        _tar_dir(tar, cfg.outputs_dir, now)  # 0o755: writable by root; user jobs make their own
        if secrets:
            _tar_dir(tar, cfg.secrets_dir, now)
            for name, value in secrets.items():
                add_file(f"{cfg.secrets_dir}/{name}", value.encode(), 0o444)


def _add_data(tar: tarfile.TarFile, name: str, value: Any, path: str, now: float) -> None:
    """A File as the file ``path``; a Directory as the tree below ``path``; a DataFrame as
    its parquet files below ``path`` (a single-file one as ``path/<its name>``). Remote data
    is downloaded first; files are read-only in the job."""
    from shim.types import File

    try:
        local = Path(value.download())  # storage errors keep their own class (retryable or not)
    except ValueError as e:  # an in-memory DataFrame, never encoded
        raise JobSpecError(f"input {name!r}: {value!r} cannot be copied into the job: {e}") from e
    if not local.exists():  # a local path the type engine did not check (the service's inputs)
        raise JobSpecError(f"input {name!r}: {local} does not exist (nothing to copy into the job)")
    if isinstance(value, File):  # a File or Directory of the wrong kind is refused when encoded
        _tar_file(tar, local, path, now)
        return
    _tar_dir(tar, path, now)
    if local.is_file():  # a DataFrame in one parquet file
        _tar_file(tar, local, f"{path}/{local.name}", now)
        return
    for sub in sorted(local.rglob("*")):
        arcname = f"{path}/{sub.relative_to(local).as_posix()}"
        if sub.is_dir():
            _tar_dir(tar, arcname, now)
        elif sub.is_file():
            _tar_file(tar, sub, arcname, now)


def _tar_dir(tar: tarfile.TarFile, path: str, now: float) -> None:
    info = tarfile.TarInfo(path.strip("/"))
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
    tar.addfile(info)


def _tar_file(tar: tarfile.TarFile, local: Path, path: str, now: float) -> None:
    info = tarfile.TarInfo(path.strip("/"))
    info.size, info.mode, info.mtime = local.stat().st_size, 0o444, now
    with open(local, "rb") as f:
        tar.addfile(info, f)


def _create(
    cfg: ContainerJobConfig,
    meta: ContainerJobMeta,
    identity: str,
    run: str,
    inputs: dict[str, Any],
    task_template: Any,
    secrets: dict[str, str],
) -> None:
    import docker.errors

    client = _client(cfg.engine)
    try:
        _collect_garbage(client)
        try:
            existing = client.containers.get(meta.container)
        except docker.errors.NotFound:
            existing = None
        if existing is not None:  # create was called before for this execution
            if existing.status == "created":  # ... and died before starting it
                existing.start()
            return
        texts = {name: _text(name, value, cfg) for name, value in inputs.items()}
        command = render_command(list(cfg.command), texts)
        labels = {**cfg.labels, LABEL_JOB: "docker", LABEL_EXECUTION: identity[:1000]}
        if run:
            labels[LABEL_RUN] = run
        kwargs: dict[str, Any] = {
            "name": meta.container,
            "command": command,
            "environment": dict(cfg.env),
            "labels": labels,
            "detach": True,
        }
        for key, value in (
            ("network_mode", cfg.network),
            ("user", cfg.user),
            ("working_dir", cfg.working_dir),
        ):
            if value:
                kwargs[key] = value
        try:
            container = _create_container(client, cfg, kwargs)
        except docker.errors.APIError as e:
            # a concurrent create for the same execution won the name
            try:
                container = client.containers.get(meta.container)
            except docker.errors.NotFound:
                raise JobSpecError(f"the engine refused the job's container: {_short(e)}") from None
            if container.status == "created":
                container.start()
            return
        try:
            with tempfile.TemporaryFile() as archive:
                _archive(cfg, texts, inputs, secrets, archive)
                archive.seek(0)
                container.put_archive("/", archive)
            container.start()
        except Exception:
            container.remove(force=True)  # never leave a half-made job behind
            raise
    except docker.errors.DockerException as e:
        raise EngineUnavailable(f"the container engine failed: {_short(e)}") from None
    finally:
        client.close()


def _create_container(client: Any, cfg: ContainerJobConfig, kwargs: dict[str, Any]) -> Any:
    import docker.errors

    try:
        return client.containers.create(cfg.image, **kwargs)
    except docker.errors.ImageNotFound:
        if not cfg.pull:
            raise JobSpecError(f"image {cfg.image!r} is not on the engine (pull is off)") from None
        try:
            client.images.pull(cfg.image)
        except docker.errors.APIError as e:
            raise JobSpecError(
                f"image {cfg.image!r} is not on the engine and cannot be pulled: {_short(e)}"
            ) from None
        return client.containers.create(cfg.image, **kwargs)


def _short(e: BaseException) -> str:
    text = getattr(e, "explanation", None) or str(e) or type(e).__name__
    return str(text).splitlines()[0][:300]


def _get(meta: ContainerJobMeta) -> Resource:
    import docker.errors

    client = _client(meta.engine)
    try:
        try:
            container = client.containers.get(meta.container)
        except docker.errors.NotFound:
            return Resource(
                ABORTED,
                message=f"container {meta.container} no longer exists on the engine (removed "
                "by a delete or from outside the connector)",
            )
        state = container.attrs.get("State", {})
        status = state.get("Status") or container.status
        info = {"container": meta.container, "status": status}
        if status == "created":
            return Resource(QUEUED, message="container created, not started yet", custom_info=info)
        if status in ("removing",):
            return Resource(
                ABORTED, message=f"container {meta.container} is being removed", custom_info=info
            )
        if status not in _FINISHED:  # running, restarting, paused, stopping (podman), ...
            return Resource(RUNNING, custom_info=info)
        code = int(state.get("ExitCode", -1))
        info["exit_code"] = code
        if code == 0 and status != "dead":
            try:
                outputs = _read_outputs(container, meta)
            except JobSpecError as e:
                return Resource(FAILED, message=str(e), custom_info=info)
            return Resource(SUCCEEDED, outputs=outputs, custom_info=info)
        tail = _tail(container)
        if state.get("OOMKilled"):
            return Resource(
                RETRYABLE_FAILED, message=f"the job ran out of memory\n{tail}", custom_info=info
            )
        if code == RETRYABLE_EXIT_CODE:
            return Resource(
                RETRYABLE_FAILED,
                message=f"the job exited with status {code} (temporary failure)\n{tail}",
                custom_info=info,
            )
        return Resource(
            FAILED, message=f"the job exited with status {code}\n{tail}", custom_info=info
        )
    except docker.errors.DockerException as e:
        raise EngineUnavailable(f"the container engine failed: {_short(e)}") from None
    finally:
        client.close()


def _tail(container: Any) -> str:
    try:
        text = container.logs(tail=_LOG_TAIL).decode("utf-8", "replace").rstrip()
    except Exception:
        return ""
    return f"last lines of its output:\n{text}" if text else "it printed nothing"


def _read_outputs(container: Any, meta: ContainerJobMeta) -> dict[str, Any]:
    import docker.errors

    if not meta.output_types:
        return {}
    try:
        chunks, _ = container.get_archive(meta.outputs_dir)
        data = b"".join(chunks)
    except docker.errors.NotFound:
        raise JobSpecError(
            f"the job exited 0 but wrote no {meta.outputs_dir} (outputs "
            f"{sorted(meta.output_types)} expected)"
        ) from None
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    files[member.name.split("/", 1)[-1] if "/" in member.name else member.name] = (
                        extracted.read()
                    )
    outputs = {}
    for name, kind in meta.output_types.items():
        if name not in files:
            raise JobSpecError(
                f"the job exited 0 but did not write its output {name!r} to "
                f"{meta.outputs_dir}/{name}"
            )
        outputs[name] = parse_output(name, kind, files[name])
    return outputs


def parse_output(name: str, kind: str, raw: bytes) -> Any:
    text = raw.decode("utf-8", "replace")
    try:
        if kind == "str":
            return text[:-1] if text.endswith("\n") else text
        value = text.strip()
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
            raise ValueError(f"{value!r} is not true/false")
        if kind == "datetime":
            return dt.datetime.fromisoformat(value)
        return json.loads(value)
    except ValueError as e:
        raise JobSpecError(
            f"output {name!r} ({kind}) cannot be read from {text[:80]!r}: {e}"
        ) from None


def _delete(meta: ContainerJobMeta) -> None:
    import docker.errors

    client = _client(meta.engine)
    try:
        try:
            container = client.containers.get(meta.container)
        except docker.errors.NotFound:
            return  # already gone: delete is idempotent
        try:
            if container.status in ("running", "restarting", "paused"):
                container.stop(timeout=max(0, int(meta.stop_grace)))
            container.remove(force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if "removal" in _short(e).lower() and "progress" in _short(e).lower():
                return
            raise
    except docker.errors.DockerException as e:
        raise EngineUnavailable(f"the container engine failed: {_short(e)}") from None
    finally:
        client.close()


def _logs(meta: ContainerJobMeta, lines: int | None) -> str:
    import docker.errors

    client = _client(meta.engine)
    try:
        try:
            container = client.containers.get(meta.container)
        except docker.errors.NotFound:
            return ""
        return container.logs(tail=lines or "all").decode("utf-8", "replace")
    finally:
        client.close()


def _retention() -> float:
    """``SHIM_DOCKER_RETENTION`` seconds (0 keeps finished job containers); a value that is
    not a number >= 0 is an :class:`~shim.envconf.InvalidConfigError` naming it."""
    return envconf.number("SHIM_DOCKER_RETENTION", DEFAULT_RETENTION, minimum=0, unit="seconds")


def _collect_garbage(client: Any) -> None:
    """Remove exited job containers older than the retention (best effort)."""
    keep = _retention()
    if keep <= 0:
        return
    now = dt.datetime.now(dt.UTC)
    try:
        finished = client.containers.list(
            all=True, filters={"label": f"{LABEL_JOB}=docker", "status": "exited"}
        )
    except Exception:
        return
    for c in finished:
        ended = _parse_time(c.attrs.get("State", {}).get("FinishedAt", ""))
        if ended is not None and (now - ended).total_seconds() > keep:
            try:
                c.remove(force=True)
            except Exception:
                pass


def _parse_time(text: str) -> dt.datetime | None:
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", text or "")
    if not m or m.group(1).startswith("0001"):
        return None
    frac = (m.group(2) or "")[:7]
    zone = m.group(3) or "Z"
    return dt.datetime.fromisoformat(m.group(1) + frac + ("+00:00" if zone == "Z" else zone))
