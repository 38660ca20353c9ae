"""The service Flyte's backend calls: flyteidl 1.x ``AsyncAgentService`` and
``AgentMetadataService`` over gRPC, plus gRPC health checking.

Stateless: every call carries what it needs (the template and inputs for CreateTask, the
resource meta for the others), so the server can be stopped and started between any two
calls. Errors map to gRPC status codes:

- NOT_FOUND: no connector for the task type, no agent of that name;
- INVALID_ARGUMENT: a resource meta that is undecodable or of a newer format version, inputs
  that do not match the interface, a malformed ``custom["secrets"]``;
- FAILED_PRECONDITION: a secret the template names is not available to the service;
- INTERNAL (with the connector's message): the connector raised in create / get / delete, or
  returned something invalid;
- UNIMPLEMENTED: the connector has no get_metrics / get_logs.

Messages never carry a secret: the resolved secrets and every secret of the server's
environment and secrets directory are redacted.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # before grpc loads: no C-core chatter

import grpc
from grpc import aio

from shim import idl
from shim.connectors.base import (
    ABORTED,
    FAILED,
    INITIALIZING,
    QUEUED,
    RETRYABLE_FAILED,
    RUNNING,
    SUCCEEDED,
    UNDEFINED,
    WAITING_FOR_RESOURCES,
    AsyncConnector,
    ConnectorNotFound,
    ResourceMetaError,
    call,
    phase_name,
    template_custom,
)
from shim.connectors.registry import ConnectorRegistry
from shim.errors import InputError, UserError

log = logging.getLogger("shim.connectors.service")

_grpc = idl.agent_grpc
_State = idl.AgentState

#: connector phase -> (phase sent, deprecated ``state`` sent). RETRYABLE_FAILED goes out as
#: phase UNDEFINED + state RETRYABLE_FAILURE: propeller before 1.16 (agent-service, and
#: connector-service in 1.15.x) rejects the RETRYABLE_FAILED phase as unknown, and every
#: version reads ``state`` when the phase is UNDEFINED.
PHASE_MAP: dict[int, tuple[int, int]] = {
    QUEUED: (QUEUED, _State.Value("PENDING")),
    WAITING_FOR_RESOURCES: (WAITING_FOR_RESOURCES, _State.Value("PENDING")),
    INITIALIZING: (INITIALIZING, _State.Value("PENDING")),
    RUNNING: (RUNNING, _State.Value("RUNNING")),
    SUCCEEDED: (SUCCEEDED, _State.Value("SUCCEEDED")),
    FAILED: (FAILED, _State.Value("PERMANENT_FAILURE")),
    ABORTED: (ABORTED, _State.Value("PERMANENT_FAILURE")),
    RETRYABLE_FAILED: (UNDEFINED, _State.Value("RETRYABLE_FAILURE")),
}
#: the ``agent_error`` of a failed job: code, kind
FAILURE_CODES = {
    FAILED: ("USER:JobFailed", "NON_RECOVERABLE"),
    ABORTED: ("USER:JobAborted", "NON_RECOVERABLE"),
    RETRYABLE_FAILED: ("USER:RetryableFailure", "RECOVERABLE"),
}
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(eq=False)
class _Failure(Exception):
    code: grpc.StatusCode
    details: str


def _secret_redactor(secrets: dict[str, str]) -> Callable[[str], str]:
    from shim.connectors.convert import redactor

    return redactor(secrets)


def _classify(exc: BaseException, what: str) -> _Failure:
    """The status for an exception raised while serving ``what``."""
    from shim.connectors.convert import SecretSpecError
    from shim.runtime.secrets import SecretNotFoundError

    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ConnectorNotFound):
        return _Failure(grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, ResourceMetaError | InputError | SecretSpecError):
        return _Failure(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: {exc}")
    if isinstance(exc, SecretNotFoundError):
        return _Failure(grpc.StatusCode.FAILED_PRECONDITION, f"{what}: {exc}")
    if isinstance(exc, NotImplementedError):
        return _Failure(grpc.StatusCode.UNIMPLEMENTED, f"{what}: not implemented by the connector")
    return _Failure(grpc.StatusCode.INTERNAL, f"{what} failed: {text}")


async def _serve_call(context: Any, what: str, body: Callable[[], Any]) -> Any:
    redact = _secret_redactor({})
    try:
        return await body()
    except _Failure as f:
        failure = f
    except Exception as e:
        failure = _classify(e, what)
    redact = getattr(failure, "_shim_redact", redact)
    details = redact(failure.details)
    log.warning("%s: %s: %s", what, failure.code.name, details)
    await context.abort(failure.code, details)


def _category(request: Any) -> tuple[str, int]:
    if request.HasField("task_category") and request.task_category.name:
        return request.task_category.name, request.task_category.version
    if request.task_type:
        return request.task_type, 0
    raise _Failure(
        grpc.StatusCode.INVALID_ARGUMENT, "the request names no task category and no task type"
    )


def _decode(connector: AsyncConnector, data: bytes) -> Any:
    return connector.metadata_type.decode(data)


def _resolve(refs: Any) -> tuple[dict[str, str], Callable[[str], str]]:
    from shim.connectors.convert import resolve_secrets

    secrets = resolve_secrets({"secrets": refs or {}})
    return secrets, _secret_redactor(secrets)


def _tag(exc: BaseException, redact: Callable[[str], str]) -> BaseException:
    exc._shim_redact = redact  # type: ignore[attr-defined]
    return exc


def resource_proto(resource: Any, connector: AsyncConnector, redact: Callable[[str], str]) -> Any:
    """The flyteidl ``Resource`` for what ``get`` returned (see :data:`PHASE_MAP`)."""
    from shim.connectors.base import Resource
    from shim.connectors.convert import inferred_outputs
    from shim.types import TransferContext

    if not isinstance(resource, Resource):
        raise TypeError(f"get returned {type(resource).__name__}, not a Resource")
    if resource.phase not in PHASE_MAP:
        raise ValueError(
            f"get returned phase {phase_name(resource.phase)}, which is not a job phase: use "
            "QUEUED, WAITING_FOR_RESOURCES, INITIALIZING, RUNNING, SUCCEEDED, FAILED, ABORTED "
            "or RETRYABLE_FAILED"
        )
    phase, state = PHASE_MAP[resource.phase]
    out = idl.AgentResource(phase=phase, state=state, message=redact(resource.message or ""))
    out.log_links.extend(resource.task_logs())
    if resource.custom_info:
        out.custom_info.update(json.loads(json.dumps(resource.custom_info, default=str)))
    if resource.phase in FAILURE_CODES:
        code, kind = FAILURE_CODES[resource.phase]
        out.agent_error.code = code
        out.agent_error.kind = idl.AgentError.Kind.Value(kind)
        out.agent_error.origin = idl.ErrorOrigin.Value("USER")
    if resource.phase == SUCCEEDED and resource.outputs is not None:
        scratch = Path(tempfile.mkdtemp(prefix="shim-service-"))
        try:
            out.outputs.CopyFrom(
                inferred_outputs(resource.outputs, TransferContext(scratch_dir=scratch))
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return out


class AsyncAgentService(_grpc.AsyncAgentServiceServicer):
    """CreateTask, GetTask, DeleteTask, GetTaskMetrics, GetTaskLogs for every registered
    connector, looked up by the request's task category."""

    async def CreateTask(self, request: Any, context: Any) -> Any:
        async def body() -> Any:
            from shim.connectors.convert import input_values, redactor, resolve_secrets

            tt = request.template
            what = f"CreateTask for task type {tt.type!r} v{tt.task_type_version}"
            connector = ConnectorRegistry.get_connector(tt.type, tt.task_type_version)
            secrets = resolve_secrets(template_custom(tt))
            redact = redactor(secrets)
            scratch = Path(tempfile.mkdtemp(prefix="shim-service-"))
            try:
                inputs = input_values(tt, request.inputs, scratch)
                metadata = (
                    request.task_execution_metadata
                    if request.HasField("task_execution_metadata")
                    else None
                )
                try:
                    meta = await call(
                        connector.create,
                        task_template=tt,
                        output_prefix=request.output_prefix,
                        inputs=inputs,
                        task_execution_metadata=metadata,
                        **secrets,
                    )
                    data = meta.encode()
                except Exception as e:
                    raise _tag(
                        _classify(e, f"{what}: {connector.describe()} create"), redact
                    ) from e
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return idl.CreateTaskResponse(resource_meta=data)

        return await _serve_call(context, "CreateTask", body)

    async def GetTask(self, request: Any, context: Any) -> Any:
        async def body() -> Any:
            ttype, version = _category(request)
            connector = ConnectorRegistry.get_connector(ttype, version)
            meta = _decode(connector, request.resource_meta)
            secrets, redact = _resolve(connector_secret_refs(connector, meta))
            try:
                resource = await call(connector.get, resource_meta=meta, **secrets)
                proto = resource_proto(resource, connector, redact)
            except Exception as e:
                raise _tag(_classify(e, f"GetTask: {connector.describe()} get"), redact) from e
            return idl.GetTaskResponse(resource=proto)

        return await _serve_call(context, "GetTask", body)

    async def DeleteTask(self, request: Any, context: Any) -> Any:
        async def body() -> Any:
            ttype, version = _category(request)
            connector = ConnectorRegistry.get_connector(ttype, version)
            meta = _decode(connector, request.resource_meta)
            secrets, redact = _resolve(connector_secret_refs(connector, meta))
            try:
                await call(connector.delete, resource_meta=meta, **secrets)
            except Exception as e:
                raise _tag(
                    _classify(e, f"DeleteTask: {connector.describe()} delete"), redact
                ) from e
            return idl.DeleteTaskResponse()

        return await _serve_call(context, "DeleteTask", body)

    async def GetTaskMetrics(self, request: Any, context: Any) -> Any:
        async def body() -> Any:
            ttype, version = _category(request)
            connector = ConnectorRegistry.get_connector(ttype, version)
            meta = _decode(connector, request.resource_meta)
            secrets, redact = _resolve(connector_secret_refs(connector, meta))
            try:
                result = await call(
                    connector.get_metrics,
                    resource_meta=meta,
                    queries=list(request.queries),
                    start_time=request.start_time,
                    end_time=request.end_time,
                    step=request.step,
                    **secrets,
                )
            except Exception as e:
                raise _tag(_classify(e, f"GetTaskMetrics: {connector.describe()}"), redact) from e
            if not isinstance(result, idl.GetTaskMetricsResponse):
                raise _Failure(
                    grpc.StatusCode.INTERNAL,
                    f"{connector.describe()}: get_metrics returned {type(result).__name__}, not a "
                    "GetTaskMetricsResponse",
                )
            return result

        return await _serve_call(context, "GetTaskMetrics", body)

    async def GetTaskLogs(self, request: Any, context: Any) -> Any:
        what = "GetTaskLogs"
        redact = _secret_redactor({})
        try:
            ttype, version = _category(request)
            connector = ConnectorRegistry.get_connector(ttype, version)
            what = f"GetTaskLogs: {connector.describe()}"
            meta = _decode(connector, request.resource_meta)
            secrets, redact = _resolve(connector_secret_refs(connector, meta))
            result = connector.get_logs(
                resource_meta=meta, lines=request.lines, token=request.token, **secrets
            )
            if inspect.isasyncgen(result) or hasattr(result, "__aiter__"):
                async for item in result:
                    for msg in _log_messages(item, redact):
                        yield msg
            else:
                item = await result if inspect.isawaitable(result) else result
                for msg in _log_messages(item, redact):
                    yield msg
            return
        except _Failure as f:
            failure = f
        except Exception as e:
            failure = _classify(e, what)
        details = redact(failure.details)
        log.warning("%s: %s: %s", what, failure.code.name, details)
        await context.abort(failure.code, details)


def _log_messages(item: Any, redact: Callable[[str], str]) -> list[Any]:
    """A ``get_logs`` item as GetTaskLogsResponse messages: a message passes through, a line
    (``str``) or a list of lines becomes one body."""
    if isinstance(item, idl.GetTaskLogsResponse):
        return [item]
    if isinstance(item, str):
        item = [item]
    if isinstance(item, list | tuple) and all(isinstance(x, str) for x in item):
        body = idl.GetTaskLogsResponseBody(results=[redact(x) for x in item])
        return [idl.GetTaskLogsResponse(body=body)]
    raise TypeError(
        f"get_logs produced {type(item).__name__}: yield GetTaskLogsResponse messages or lines "
        "(str)"
    )


def connector_secret_refs(connector: AsyncConnector, meta: Any) -> Any:
    """The secrets get/delete need (see ``AsyncConnector.secret_refs``)."""
    return connector.secret_refs(meta)


class AgentMetadataService(_grpc.AgentMetadataServiceServicer):
    """ListAgents / GetAgent: which connectors this server runs (propeller reads this to
    route task types)."""

    async def ListAgents(self, request: Any, context: Any) -> Any:
        return idl.ListAgentsResponse(agents=agents())

    async def GetAgent(self, request: Any, context: Any) -> Any:
        for agent in agents():
            if agent.name == request.name:
                return idl.GetAgentResponse(agent=agent)
        names = ", ".join(a.name for a in agents()) or "none"
        await context.abort(
            grpc.StatusCode.NOT_FOUND, f"no connector named {request.name!r} (serving: {names})"
        )


def agents() -> list[Any]:
    """One ``Agent`` per connector name, with every task category it serves."""
    by_name: dict[str, Any] = {}
    for c in ConnectorRegistry.list_connectors():
        agent = by_name.setdefault(c.name, idl.Agent(name=c.name, is_sync=False))
        if c.task_type_name not in agent.supported_task_types:
            agent.supported_task_types.append(c.task_type_name)
        agent.supported_task_categories.add(name=c.task_type_name, version=c.task_type_version)
    return [by_name[n] for n in sorted(by_name)]


# --- the server ---------------------------------------------------------------------------------


class ServeError(UserError):
    """The service cannot start as asked (address, TLS files, unsafe binding)."""

    code = "ServeFailed"


class ListenError(ServeError):
    """The options are fine but the address cannot be listened on (in use, not this host's)."""


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    insecure: bool = False  # allow plaintext on a non-loopback address
    grace: float = 10.0


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _credentials(opts: ServeOptions) -> Any:
    if not opts.tls_cert and not opts.tls_key:
        if opts.tls_client_ca:
            raise ServeError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not (opts.tls_cert and opts.tls_key):
        raise ServeError("TLS needs both --tls-cert and --tls-key")
    try:
        key = Path(opts.tls_key).read_bytes()
        cert = Path(opts.tls_cert).read_bytes()
        ca = Path(opts.tls_client_ca).read_bytes() if opts.tls_client_ca else None
    except OSError as e:
        raise ServeError(f"cannot read a TLS file: {e}") from None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


async def _serve(opts: ServeOptions, ready: Callable[[str], None] | None) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_health.v1.health import aio as health_aio

    if not is_loopback(opts.host) and not (opts.tls_cert or opts.insecure):
        raise ServeError(
            f"refusing to serve without TLS on {opts.host}, which is not a loopback address: "
            "pass --tls-cert/--tls-key, or --insecure if the network is trusted (e.g. inside a "
            "cluster behind a network policy)"
        )
    creds = _credentials(opts)
    server = aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ]
    )
    _grpc.add_AsyncAgentServiceServicer_to_server(AsyncAgentService(), server)
    _grpc.add_AgentMetadataServiceServicer_to_server(AgentMetadataService(), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    host = f"[{opts.host}]" if ":" in opts.host and not opts.host.startswith("[") else opts.host
    address = f"{host}:{opts.port}"
    try:
        port = (
            server.add_secure_port(address, creds) if creds else server.add_insecure_port(address)
        )
    except RuntimeError as e:
        raise ListenError(f"cannot listen on {address}: {e}") from None
    if port == 0:
        raise ListenError(f"cannot listen on {address} (in use, or not an address of this host)")
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ("", "flyteidl.service.AsyncAgentService", "flyteidl.service.AgentMetadataService"):
        await health.set(name, serving)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (ValueError, RuntimeError, NotImplementedError):
            pass
    bound = f"{host}:{port}"
    if ready is not None:
        ready(bound)
    await stop.wait()
    log.info("stopping: finishing calls in flight (grace %.0fs)", opts.grace)
    await health.enter_graceful_shutdown()
    await server.stop(opts.grace)


def serve(opts: ServeOptions, ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully (calls in flight finish within
    ``opts.grace`` seconds; health turns NOT_SERVING first)."""
    asyncio.run(_serve(opts, ready))


def load_modules(modules: Sequence[str]) -> None:
    """Import modules that register connectors in code (``--module``)."""
    import importlib

    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:
            raise ServeError(
                f"cannot import connector module {name!r}: {type(e).__name__}: {e}"
            ) from None
