"""Connectors: tasks run by an external service (a warehouse, a batch system, a container
engine) that a connector starts, polls and cancels. See docs/connectors.md.

Attributes load lazily: ``import shim.connectors`` costs nothing until one is used, and the
gRPC service (``shim connectors serve``) loads grpc only when it starts.
"""

from __future__ import annotations

from shim._lazy import lazy_exports

_EXPORTS = {
    "AsyncConnector": "shim.connectors.base",
    "ResourceMeta": "shim.connectors.base",
    "Resource": "shim.connectors.base",
    "Phase": "shim.connectors.base",
    "ConnectorNotFound": "shim.connectors.base",
    "ResourceMetaError": "shim.connectors.base",
    "is_terminal": "shim.connectors.base",
    "phase_name": "shim.connectors.base",
    "template_custom": "shim.connectors.base",
    "ConnectorRegistry": "shim.connectors.registry",
    "ENTRY_POINT_GROUP": "shim.connectors.registry",
    "AsyncConnectorExecutorMixin": "shim.connectors.mixin",
    "PollPolicy": "shim.connectors.local",
    "RunStateError": "shim.connectors.local",
    "run_connector_task": "shim.connectors.local",
    "resume_connector_run": "shim.connectors.local",
    "describe_run": "shim.connectors.local",
    "secret_refs": "shim.connectors.convert",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("shim.connectors", _EXPORTS, globals())
