"""Container jobs on a Docker-compatible engine: shimkit's reference connector.

``ContainerJobTask`` (authoring) runs a command in an image with the task's inputs as files;
``DockerJobConnector`` (entry point ``shim.connectors: docker``) starts, polls and removes the
container. See README.md.
"""

from shim._lazy import lazy_exports

_EXPORTS = {
    "ContainerJobConfig": "shim_docker.config",
    "ContainerJobTask": "shim_docker.task",
    "ContainerJobMeta": "shim_docker.connector",
    "DockerJobConnector": "shim_docker.connector",
    "TASK_TYPE": "shim_docker.config",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("shim_docker", _EXPORTS, globals())
