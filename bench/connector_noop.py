"""A connector that does nothing, for the connector benchmarks (registered on import)."""

from __future__ import annotations

import dataclasses

from shim.connectors import AsyncConnector, ConnectorRegistry, Resource, ResourceMeta
from shim.connectors.base import RUNNING, SUCCEEDED

TASK_TYPE = "bench_noop"


@dataclasses.dataclass
class NoopMeta(ResourceMeta):
    job: str
    polls_left: int = 0


class NoopConnector(AsyncConnector[NoopMeta]):
    """``create`` returns at once; ``get`` says RUNNING ``custom["polls"]`` times (counted in
    the meta the local loop keeps in memory), then SUCCEEDED with ``{"y": 1}``."""

    name = "bench-noop"
    task_type_name = TASK_TYPE
    metadata_type = NoopMeta

    async def create(
        self, task_template, output_prefix, inputs=None, task_execution_metadata=None, **kw
    ):
        polls = (
            task_template.custom.fields["polls"].number_value
            if task_template.HasField("custom")
            else 0
        )
        return NoopMeta(job="j", polls_left=int(polls))

    async def get(self, resource_meta, **kw):
        if resource_meta.polls_left > 0:
            resource_meta.polls_left -= 1
            return Resource(RUNNING)
        return Resource(SUCCEEDED, outputs={"y": 1})

    async def delete(self, resource_meta, **kw):
        return None


ConnectorRegistry.register(NoopConnector(), override=True)
