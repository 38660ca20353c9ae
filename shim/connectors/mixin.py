"""``AsyncConnectorExecutorMixin``: a task run by a connector instead of a container."""

from __future__ import annotations

from typing import Any, ClassVar

from shim.connectors.local import PollPolicy


class AsyncConnectorExecutorMixin:
    """Mix into a task class before ``TaskTemplate``::

        class QueryTask(AsyncConnectorExecutorMixin, TaskTemplate): ...

    The task's template has no container: its ``type`` / ``task_type_version`` select the
    connector, its ``custom`` carries what the connector needs (secrets by name, see
    :func:`shim.connectors.secret_refs`). Calling the task (or ``shim.with_runcontext(name=
    ...).run(task, ...)``, ``shim run``) runs the platform's loop here, as a run of the local
    runs store (:meth:`drive_locally`): create once, persist the resource meta, poll with
    backoff, bind the outputs by name; a killed run started again with the same run name (or
    ``shim runs resume NAME``) is resumed, not restarted.
    """

    #: serialize without a container (no image, no args): a connector runs the task
    has_container: ClassVar[bool] = False
    #: how the local loop polls (class default; ``None``: :class:`PollPolicy` defaults)
    poll_policy: ClassVar[PollPolicy | None] = None

    def drive_locally(
        self,
        inputs: dict[str, Any],
        *,
        stage: Any,
        run_name: str,
        storage: Any,
        timeout: float | None,
        runner: str | None,
    ) -> None:
        """How the local runners run this task (``shim.local.runner.run_task`` calls it in
        place of ``shim execute``): stage the run, or check that a run of the same name holds
        this very task and inputs, then drive the connector loop, resuming from the state
        persisted in ``stage``. The outcome is left in ``stage.outputs``."""
        if runner not in (None, "inprocess"):
            raise ValueError(
                f"{type(self).__name__} is run by a connector, not a container: runner "
                f"{runner!r} does not apply (leave it unset)"
            )
        from shim.connectors.local import drive_run, policy_of, stage_task

        stage_task(self, inputs, stage, storage)
        drive_run(stage, run_name=run_name, storage=storage, timeout=timeout, poll=policy_of(self))

    def container_args(self, sctx: Any) -> list[str]:
        return []
