"""``ContainerJobTask``: a task whose job is a container run by the docker connector."""

from __future__ import annotations

import dataclasses
from typing import Any

from shim.connectors import AsyncConnectorExecutorMixin, secret_refs
from shim.task.interface import NativeInterface
from shim.task.template import SerializationContext, TaskTemplate
from shim_docker.config import TASK_TYPE, ContainerJobConfig


class ContainerJobTask(AsyncConnectorExecutorMixin, TaskTemplate):
    """Run ``command`` in ``image`` as a job on a Docker-compatible engine.

    Inputs reach the job as files ``/var/inputs/<name>`` (text: ``str`` as is, numbers and
    booleans as literals, everything else as JSON; all of them in ``/var/inputs/inputs.json``)
    and through ``{{ .inputs.NAME }}`` placeholders in ``command``. The job writes each output
    to ``/var/outputs/<name>`` (int, float, str, bool, datetime as text; lists, dicts and
    dataclasses as JSON) and exits 0; another exit status fails the task with its last lines of
    output, and exit status 75 (EX_TEMPFAIL) is a failure the task's ``retries`` may fix.
    ``job_secrets`` ({file name: secret}) are resolved when the job is created and written to
    ``/var/secrets/<file name>`` inside the container; they are never stored anywhere else.

    Every other keyword (``retries``, ``timeout``, ...) is a ``TaskTemplate`` setting.
    """

    def __init__(
        self,
        name: str,
        image: str,
        command: list[str],
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        job_secrets: dict[str, Any] | None = None,
        network: str | None = None,
        user: str | None = None,
        working_dir: str | None = None,
        stop_grace: float = 10.0,
        pull: bool = True,
        engine: str | None = None,
        **kwargs: Any,
    ) -> None:
        if (
            not isinstance(command, list | tuple)
            or not command
            or not all(isinstance(a, str) for a in command)
        ):
            raise ValueError(f"task {name!r}: command must be a non-empty list of str")
        self._job = ContainerJobConfig(
            image=image,
            command=list(command),
            env=dict(env or {}),
            labels=dict(labels or {}),
            network=network,
            user=user,
            working_dir=working_dir,
            stop_grace=stop_grace,
            pull=pull,
            engine=engine,
        )
        self._job_secrets = secret_refs(job_secrets or {})
        super().__init__(
            name=name,
            interface=NativeInterface(dict(inputs or {}), dict(outputs or {})),
            task_type=TASK_TYPE,
            image=image,
            **kwargs,
        )

    @property
    def job(self) -> ContainerJobConfig:
        return self._job

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        custom = {k: v for k, v in dataclasses.asdict(self._job).items() if v is not None}
        if self._job_secrets:
            custom["secrets"] = self._job_secrets
        return custom
