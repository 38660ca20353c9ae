"""The task's ``custom``: what the connector needs to start the container job."""

from __future__ import annotations

from dataclasses import dataclass, field

#: the template ``type`` the docker connector runs
TASK_TYPE = "container_job"
#: a job that exits with this status (EX_TEMPFAIL) failed in a way a retry may fix
RETRYABLE_EXIT_CODE = 75


@dataclass
class ContainerJobConfig:
    """A container job: ``image`` runs ``command`` (its ``{{ .inputs.NAME }}`` placeholders
    replaced by the inputs' text), with the inputs as files ``<inputs_dir>/<name>`` (and all
    of them in ``<inputs_dir>/inputs.json``), the job's secrets as files
    ``<secrets_dir>/<name>``, and its outputs read back from ``<outputs_dir>/<name>``.

    ``engine`` is a ``DOCKER_HOST``-style URL (default: the connector's ``DOCKER_HOST``);
    ``network`` a network mode (default: the engine's); ``stop_grace`` the seconds a
    cancelled job gets between SIGTERM and SIGKILL; ``pull``: pull a missing image.
    """

    image: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    inputs_dir: str = "/var/inputs"
    outputs_dir: str = "/var/outputs"
    secrets_dir: str = "/var/secrets"
    network: str | None = None
    user: str | None = None
    working_dir: str | None = None
    stop_grace: float = 10.0
    pull: bool = True
    engine: str | None = None
