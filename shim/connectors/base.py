"""The connector API: a job's resource meta, its observed state, and the connector's methods.

A connector starts a job in an external system (``create``), observes it (``get``) and cancels
it (``delete``). The :class:`ResourceMeta` that ``create`` returns is the job's **only durable
state**: whoever runs the loop (Flyte's backend, or shimkit locally) persists it, may die at
any moment, and picks the job up again from it. So everything needed to poll the job, fetch
its outputs or cancel it must be in the resource meta, and nothing secret may be.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable
from typing import Any, ClassVar, Generic, TypeVar

from shim import idl
from shim.errors import UserError

#: ``flyteidl.core.TaskExecution.Phase`` values (``Phase.SUCCEEDED``, ``Phase.Name(p)``, ...)
Phase = idl.TaskExecution.Phase
TERMINAL_PHASES = frozenset(
    {Phase.Value("SUCCEEDED"), Phase.Value("FAILED"), Phase.Value("ABORTED")}
)
UNDEFINED = Phase.Value("UNDEFINED")
QUEUED = Phase.Value("QUEUED")
RUNNING = Phase.Value("RUNNING")
SUCCEEDED = Phase.Value("SUCCEEDED")
ABORTED = Phase.Value("ABORTED")
FAILED = Phase.Value("FAILED")
INITIALIZING = Phase.Value("INITIALIZING")
WAITING_FOR_RESOURCES = Phase.Value("WAITING_FOR_RESOURCES")
RETRYABLE_FAILED = Phase.Value("RETRYABLE_FAILED")

#: key of the format version in an encoded resource meta (not a valid Python identifier, so it
#: never collides with a field name)
VERSION_KEY = "@v"


def phase_name(phase: int) -> str:
    """``"RUNNING"`` for ``RUNNING``; ``"UNKNOWN(42)"`` for a value flyteidl does not define."""
    try:
        return Phase.Name(phase)
    except ValueError:
        return f"UNKNOWN({phase})"


def is_terminal(phase: int) -> bool:
    """SUCCEEDED, FAILED and ABORTED end a job; RETRYABLE_FAILED ends an attempt."""
    return phase in TERMINAL_PHASES


# --- errors ------------------------------------------------------------------------------------


class ConnectorNotFound(UserError, LookupError):
    """No connector is registered for a task type and version."""

    code = "ConnectorNotFound"


class ResourceMetaError(UserError, ValueError):
    """A resource meta cannot be decoded: not this connector's, corrupt, or from a newer version."""

    code = "BadResourceMeta"


# --- resource meta -----------------------------------------------------------------------------


@dataclasses.dataclass
class ResourceMeta:
    """Base of a connector's resource meta: subclass it as a dataclass.

    ``encode()`` writes compact JSON (nested and Optional dataclasses, lists, dicts, enums,
    datetimes as ISO 8601) with the class's ``meta_version`` under the key ``"@v"``.
    ``decode()`` rebuilds the dataclass: unknown keys (written by a newer connector that added
    a field) are ignored, missing fields take their defaults, and a meta written by a *newer*
    format version than this class knows (``"@v"`` above ``meta_version``) is refused with
    :class:`ResourceMetaError`. A meta without ``"@v"`` (flyte-sdk's plain ``asdict`` JSON)
    reads as version 1. Override :meth:`upgrade` to read older versions.
    """

    #: format version written by :meth:`encode`; raise it when a change is not backward
    #: compatible, and teach :meth:`upgrade` to read the old layout
    meta_version: ClassVar[int] = 1

    def encode(self) -> bytes:
        from shim.types import to_jsonable

        doc = to_jsonable(self, type(self), name=type(self).__name__)
        doc[VERSION_KEY] = type(self).meta_version
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> ResourceMeta:
        from shim.errors import TypeMismatchError
        from shim.types import from_jsonable

        what = f"resource meta of {cls.__qualname__}"
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ResourceMetaError(f"{what}: expected bytes, got {type(data).__name__}")
        try:
            doc = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ResourceMetaError(
                f"{what} is not JSON ({len(data)} bytes: {_preview(bytes(data))}): {e}; it was not "
                "written by this connector, or it was corrupted on the way"
            ) from None
        if not isinstance(doc, dict):
            raise ResourceMetaError(f"{what} must be a JSON object, got {type(doc).__name__}")
        version = doc.pop(VERSION_KEY, 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ResourceMetaError(f"{what}: format version {version!r} is not a positive int")
        if version > cls.meta_version:
            raise ResourceMetaError(
                f"{what} has format version {version}, but this connector reads versions up to "
                f"{cls.meta_version}: it was written by a newer version of the connector; "
                "upgrade the connector (the service and every local runner) to read it"
            )
        if version < cls.meta_version:
            doc = cls.upgrade(doc, version)
        try:
            return from_jsonable(cls, doc, name=cls.__name__)
        except (TypeMismatchError, TypeError, ValueError) as e:
            raise ResourceMetaError(f"{what} does not fit its fields: {e}") from None

    @classmethod
    def upgrade(cls, doc: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Turn the JSON of an older format version into the current layout (default: as is)."""
        return doc


def _preview(data: bytes, limit: int = 40) -> str:
    text = data[:limit].decode("utf-8", "replace")
    return repr(text) + ("..." if len(data) > limit else "")


M = TypeVar("M", bound=ResourceMeta)


# --- the observed state of a job -----------------------------------------------------------


@dataclasses.dataclass
class Resource:
    """What ``get`` observed: the job's ``phase`` (a ``TaskExecution.Phase`` value), a
    ``message`` (shown to the user; the failure reason for FAILED, ABORTED, RETRYABLE_FAILED),
    ``log_links`` (``idl.TaskLog`` messages or ``(name, uri)`` pairs), ``outputs`` (by output
    name: ``{name: python value}``, or a ``LiteralMap``; only with SUCCEEDED) and
    ``custom_info`` (a JSON-able dict shown by the platform).

    Outputs are bound **by name**: a missing or an undeclared name is an error, never a
    positional guess.
    """

    phase: int
    message: str = ""
    log_links: list[Any] | None = None
    outputs: dict[str, Any] | Any | None = None
    custom_info: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.phase, bool) or not isinstance(self.phase, int):
            raise TypeError(
                f"Resource.phase must be a TaskExecution.Phase value, got {self.phase!r}"
            )
        if self.outputs is not None and not isinstance(self.outputs, dict | idl.LiteralMap):
            raise TypeError(
                f"Resource.outputs must be a dict {{output name: value}} or a LiteralMap, got "
                f"{type(self.outputs).__name__}: outputs are bound by name, never by position"
            )

    def task_logs(self) -> list[Any]:
        """``log_links`` as ``idl.TaskLog`` messages."""
        out = []
        for link in self.log_links or []:
            if isinstance(link, idl.TaskLog):
                out.append(link)
            elif isinstance(link, tuple | list) and len(link) == 2:
                out.append(idl.TaskLog(name=str(link[0]), uri=str(link[1])))
            elif isinstance(link, dict):
                out.append(
                    idl.TaskLog(name=str(link.get("name", "")), uri=str(link.get("uri", "")))
                )
            else:
                raise TypeError(f"log link {link!r} is not a TaskLog, (name, uri) or dict")
        return out


# --- the connector -----------------------------------------------------------------------------


class AsyncConnector(ABC, Generic[M]):
    """Starts, observes and cancels jobs of one task type in an external system.

    Class attributes: ``name`` (shown by ``shim connectors`` and the metadata service),
    ``task_type_name`` and ``task_type_version`` (the templates it runs: ``TaskTemplate.type``
    and ``task_type_version``), ``metadata_type`` (its :class:`ResourceMeta` dataclass).

    Methods may be coroutines (preferred) or plain functions; a plain function that blocks
    (a synchronous SDK) should be run with ``asyncio.to_thread`` inside a coroutine so the
    service keeps answering other calls.

    Contract (what the callers rely on):

    - ``create`` is called **at least once** per task execution: the platform calls it again
      when it crashed before persisting the resource meta. Make it idempotent on the task
      execution identity (``task_execution_metadata.task_execution_id``): a second call for
      the same identity returns the same job, it does not start a second one.
    - ``get`` and ``delete`` receive nothing but the decoded resource meta (and the resolved
      secrets): no state may live in the connector object between calls, because the service
      that calls them may have been restarted in between.
    - ``delete`` cancels the job and is idempotent: deleting a finished or an already deleted
      job succeeds. It raises only when the job may still be running.
    - Secrets named in the template's ``custom["secrets"]`` arrive as keyword arguments of
      ``create``, resolved at run time; ``get`` and ``delete`` receive those that
      :meth:`secret_refs` names. Never put a secret's value in the resource meta, a message
      or the outputs.
    """

    name: ClassVar[str] = "Async Connector"
    task_type_name: ClassVar[str]
    task_type_version: ClassVar[int] = 0
    metadata_type: ClassVar[type[ResourceMeta]]
    #: the local loop calls ``delete`` once a job ended and its result is stored (e.g. to
    #: remove a finished container); the platform never does
    release_on_completion: ClassVar[bool] = False

    @abstractmethod
    def create(
        self,
        task_template: Any,
        output_prefix: str,
        inputs: dict[str, Any] | None = None,
        task_execution_metadata: Any = None,
        **kwargs: Any,
    ) -> Awaitable[M] | M:
        """Start the job for ``task_template`` (a flyteidl ``TaskTemplate``) with ``inputs``
        (Python values by input name); return its resource meta."""

    @abstractmethod
    def get(self, resource_meta: M, **kwargs: Any) -> Awaitable[Resource] | Resource:
        """The job's current :class:`Resource` (phase, message, outputs when SUCCEEDED)."""

    @abstractmethod
    def delete(self, resource_meta: M, **kwargs: Any) -> Awaitable[None] | None:
        """Cancel the job (idempotent)."""

    def secret_refs(self, resource_meta: M) -> dict[str, Any]:
        """The secrets ``get``, ``delete``, ``get_logs`` and ``get_metrics`` need, by keyword
        name -> reference (``"group"``, ``"group/key"`` or ``{"group", "key"}``): those calls
        carry no template, so a connector that needs a secret after ``create`` names it in its
        resource meta (the *name*, never the value). Default: the meta's ``secret_refs`` field
        when it has one, else none."""
        refs = getattr(resource_meta, "secret_refs", None)
        return dict(refs) if isinstance(refs, dict) else {}

    def get_metrics(self, resource_meta: M, **kwargs: Any) -> Any:
        """Optional: an ``idl.GetTaskMetricsResponse`` (the service answers UNIMPLEMENTED
        while this raises NotImplementedError)."""
        raise NotImplementedError

    def get_logs(self, resource_meta: M, **kwargs: Any) -> Any:
        """Optional: the job's logs, as a coroutine or an async generator of
        ``idl.GetTaskLogsResponse`` messages or of plain text lines (``str``); ``kwargs``
        carries ``lines`` and ``token`` from the request."""
        raise NotImplementedError

    # --- helpers -----------------------------------------------------------------------------

    @classmethod
    def describe(cls) -> str:
        return f"{cls.name} ({cls.task_type_name} v{cls.task_type_version})"


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a connector method that is a coroutine function or a plain function."""
    result = fn(*args, **kwargs)
    if isinstance(result, Awaitable):
        return await result
    return result


def is_async_iterator(value: Any) -> bool:
    return isinstance(value, AsyncIterator)


def template_custom(task_template: Any) -> dict[str, Any]:
    """The template's ``custom`` Struct as a dict (``{}`` when unset)."""
    from shim.runtime.template import struct_to_dict

    if task_template.HasField("custom"):
        return struct_to_dict(task_template.custom)
    return {}


__all__ = [
    "ABORTED",
    "FAILED",
    "INITIALIZING",
    "QUEUED",
    "RETRYABLE_FAILED",
    "RUNNING",
    "SUCCEEDED",
    "UNDEFINED",
    "WAITING_FOR_RESOURCES",
    "AsyncConnector",
    "ConnectorNotFound",
    "Phase",
    "Resource",
    "ResourceMeta",
    "ResourceMetaError",
    "is_terminal",
    "phase_name",
]
