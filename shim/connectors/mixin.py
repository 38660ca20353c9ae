"""``AsyncConnectorExecutorMixin``: a task run by a connector instead of a container."""

from __future__ import annotations

from typing import Any, ClassVar

from shim.connectors.local import PollPolicy


class AsyncConnectorExecutorMixin:
    """Mix into a task class before ``TaskTemplate``::

        class QueryTask(AsyncConnectorExecutorMixin, TaskTemplate): ...

    The task's template has no container: its ``type`` / ``task_type_version`` select the
    connector, its ``custom`` carries what the connector needs (secrets by name, see
    :func:`shim.connectors.secret_refs`). Calling the task runs the platform's loop here
    (:func:`shim.connectors.run_connector_task`): create once, persist the resource meta,
    poll with backoff, bind the outputs by name; a killed run is resumed, not restarted.
    """

    #: serialize without a container (no image, no args): a connector runs the task
    has_container: ClassVar[bool] = False
    #: how the local loop polls (class default; ``None``: :class:`PollPolicy` defaults)
    poll_policy: ClassVar[PollPolicy | None] = None

    def forward(
        self, *args: Any, runner: str | None = None, store: str | None = None, **kwargs: Any
    ) -> Any:
        """Run locally through the connector. ``store`` is where the run directory goes;
        ``runner`` must be unset or ``"inprocess"`` (there is no container to run)."""
        if runner not in (None, "inprocess"):
            raise ValueError(
                f"{type(self).__name__} is run by a connector, not a container: runner "
                f"{runner!r} does not apply (leave it unset)"
            )
        inputs = self.pre(*args, **kwargs)  # type: ignore[attr-defined]
        from shim.connectors.local import run_connector_task

        return self.post(run_connector_task(self, inputs, store=store))  # type: ignore[attr-defined]

    def container_args(self, sctx: Any) -> list[str]:
        return []
