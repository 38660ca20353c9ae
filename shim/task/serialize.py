"""A task -> flyteidl ``TaskTemplate`` protobuf (deterministic: same task, same bytes)."""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any

from shim import idl
from shim.runtime.template import DEFAULT_MAX_INLINE_IO_BYTES, MAX_INLINE_IO_KEY
from shim.task.resources import PodTemplate, as_timedelta, retry_count
from shim.task.template import SerializationContext, TaskTemplate

_RESOURCE = {
    "cpu": idl.Resources.ResourceName.Value("CPU"),
    "memory": idl.Resources.ResourceName.Value("MEMORY"),
    "gpu": idl.Resources.ResourceName.Value("GPU"),
    "disk": idl.Resources.ResourceName.Value("EPHEMERAL_STORAGE"),
}
_MOUNT = {
    "any": idl.Secret.MountType.Value("ANY"),
    "env": idl.Secret.MountType.Value("ENV_VAR"),
    "file": idl.Secret.MountType.Value("FILE"),
}


class DroppedFieldWarning(UserWarning):
    """A task setting that a flyteidl 1.x ``TaskTemplate`` has no place for was left out."""


#: task settings with no place in a flyteidl 1.x TaskTemplate: what is lost, and why
NOT_CARRIED = {
    "reusable": (
        "flyteidl 1.x has no reuse policy (container reuse is a Flyte 2 feature); on a Flyte 1 "
        "cluster each call runs in a fresh container"
    ),
    "queue": (
        "a flyteidl 1.x task template has no queue; Flyte 1 picks the cluster per execution "
        "(an execution cluster label), not per task"
    ),
    "debuggable": "flyteidl 1.x TaskMetadata has no debuggable flag",
}
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _set_but_not_carried(task: TaskTemplate) -> dict[str, Any]:
    values = {"reusable": task.reusable, "queue": task.queue, "debuggable": task.debuggable}
    return {k: v for k, v in values.items() if v is not None and v is not False and v != ""}


def _warn_not_carried(task: TaskTemplate) -> None:
    """Warn once per task and field when a setting cannot travel in the template."""
    for name, value in _set_but_not_carried(task).items():
        with _warned_lock:
            if (task.name, name) in _warned:
                continue
            _warned.add((task.name, name))
        warnings.warn(
            f"task {task.name!r}: {name}={value!r} is not in the serialized template: "
            f"{NOT_CARRIED[name]}. Remove it, or keep it for local runs only",
            DroppedFieldWarning,
            stacklevel=3,
        )


@functools.cache
def _shim_version() -> str:
    """shimkit's installed version (read once: reading package metadata costs milliseconds,
    and every local run, nested calls included, serializes a template)."""
    try:
        from importlib.metadata import version

        return version("shimkit")
    except Exception:
        return "dev"


def to_idl(task: TaskTemplate, sctx: SerializationContext | None = None) -> Any:
    """The flyteidl ``TaskTemplate`` for ``task``."""
    sctx = sctx or SerializationContext()
    _warn_not_carried(task)
    tt = idl.TaskTemplate()
    tt.id.resource_type = idl.ResourceType.Value("TASK")
    tt.id.project = sctx.project
    tt.id.domain = sctx.domain
    tt.id.name = task.name
    tt.id.version = sctx.version
    tt.type = task.task_type
    tt.task_type_version = task.task_type_version
    tt.interface.CopyFrom(task.interface.to_idl())

    custom = task.custom_config(sctx)
    if custom:
        tt.custom.update(custom)

    _metadata(task, tt)

    config = dict(task.config(sctx))
    if task.max_inline_io_bytes != DEFAULT_MAX_INLINE_IO_BYTES:
        config[MAX_INLINE_IO_KEY] = str(task.max_inline_io_bytes)
    for k, v in config.items():
        tt.config[k] = v

    sql = task.sql(sctx)
    if sql:
        tt.sql.statement = sql
    elif getattr(task, "has_container", True):  # connector tasks have none
        _container(task, sctx, tt)

    for s in task.secret_list:
        pb = tt.security_context.secrets.add()
        pb.group = s.group
        if s.key:
            pb.key = s.key
        pb.mount_requirement = _MOUNT[s.mount_requirement]

    if task.service_account:
        tt.security_context.run_as.k8s_service_account = task.service_account

    cache = task.cache_policy
    if cache.enabled:
        tt.metadata.discoverable = True
        tt.metadata.discovery_version = cache.version or _auto_cache_version(tt)
        tt.metadata.cache_serializable = cache.serialize
        tt.metadata.cache_ignore_input_vars.extend(cache.ignored_inputs)
    return tt


def to_bytes(task: TaskTemplate, sctx: SerializationContext | None = None) -> bytes:
    """Deterministic serialized bytes of :func:`to_idl`."""
    return idl.serialize(to_idl(task, sctx))


def _metadata(task: TaskTemplate, tt: Any) -> None:
    md = tt.metadata
    md.runtime.type = idl.RuntimeMetadata.RuntimeType.Value("FLYTE_SDK")
    md.runtime.version = _shim_version()
    md.runtime.flavor = "shimkit"
    md.retries.retries = retry_count(task.retries)
    md.interruptible = bool(task.interruptible)
    if task.report:  # flytekit's enable_deck / flyte-sdk's report: the console shows a Deck link
        md.generates_deck.value = True
    timeout = as_timedelta(task.timeout)
    if timeout is not None:
        md.timeout.FromTimedelta(timeout)
    if isinstance(task.pod_template, str):
        md.pod_template_name = task.pod_template
    elif isinstance(task.pod_template, PodTemplate):
        if task.pod_template.pod_spec:
            raise ValueError(
                f"task {task.name!r}: inline pod specs are not supported; register a "
                "PodTemplate on the cluster and pass its name"
            )
        if task.pod_template.name:
            md.pod_template_name = task.pod_template.name


def _container(task: TaskTemplate, sctx: SerializationContext, tt: Any) -> None:
    c = tt.container
    c.image = container_image(task, sctx)
    c.args.extend(task.container_args(sctx))
    for k in sorted(task.env_vars or {}):
        c.env.add(key=k, value=task.env_vars[k])
    if task.resources is not None:
        requests, limits = task.resources.requests_and_limits()
        for src, dst in ((requests, c.resources.requests), (limits, c.resources.limits)):
            for name, value in src.items():
                dst.add(name=_RESOURCE[name], value=value)


def container_image(task: TaskTemplate, sctx: SerializationContext | None = None) -> str:
    """The image a task runs in: the context's override, else its own; ``"auto"`` is
    shimkit's base image of this version (what function tasks run in by default)."""
    image = (sctx.image if sctx is not None else None) or task.image
    if image == "auto":
        image = f"shimkit-base:{_shim_version()}"
    return image


def _auto_cache_version(tt: Any) -> str:
    """A cache version derived from what determines the result: type, custom, interface."""
    import hashlib  # only for cache="auto" (2 ms of every import of shim.task otherwise)

    h = hashlib.sha256()
    for part in (
        tt.type.encode(),
        str(tt.task_type_version).encode(),
        idl.serialize(tt.custom),
        idl.serialize(tt.interface),
    ):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]
