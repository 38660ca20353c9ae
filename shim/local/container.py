"""Run a task's container image locally, through the docker SDK (Docker or podman's socket).

:func:`run_container` is the primitive: create a container from an image with the given args
as its command, wait with a deadline, collect the logs, and remove the container on every
path (success, failure, timeout, Ctrl-C). :func:`run_task_in_container` is what the local
runner uses for ``runner="container"``: it bind-mounts the run's staging directory at the
same path inside the container, so the ``file://`` URLs rendered into the args mean the same
file on both sides.

Entrypoint. Like Kubernetes for a task whose ``container.command`` is empty, the image's own
ENTRYPOINT (shimkit's images have none) is kept and ``args`` replace its CMD; the template's
args begin with ``pyflyte-execute`` / ``shim execute``.

Users and permissions (the staging directory is written by the container):

- host user is root (CI, this kind of machine): the container runs as the image's user
  (uid 1000 in shimkit's images, as on a cluster) and the staging directory tree is made
  world-writable (directories ``0o777``, files world-readable) so that user can write its
  outputs; root reads and deletes whatever it wrote.
- any other host user: the container runs as the host's ``uid:gid`` (with ``HOME=/tmp``), so
  its outputs belong to the host user, who can read and delete them; the staging directory
  keeps its permissions.

Pass ``user=`` to choose yourself. Rootless engines map uids differently (rootless podman
needs ``--userns=keep-id`` semantics): there, prefer a staging directory on ``s3://``.

Networking: ``network="host"`` by default, so a server on the host's loopback (moto in the
tests, MinIO on ``127.0.0.1:9000``) is reachable at the same address inside the container.
On Docker Desktop (macOS/Windows) host networking reaches the VM, not the host: use
``host.docker.internal`` in the endpoint there.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shim.errors import ShimError, UserError
from shim.images import ContainerEngineError, connect

__all__ = [
    "FORWARDED_ENV",
    "FORWARDED_ENV_PREFIXES",
    "ContainerResult",
    "ContainerRunError",
    "LocalPathError",
    "run_container",
    "run_task_in_container",
]

#: Host environment variables :func:`run_task_in_container` passes on (storage configuration),
#: so a container run sees the same object store as an in-process or subprocess run.
FORWARDED_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "FLYTE_AWS_ENDPOINT",
    "FLYTE_AWS_ACCESS_KEY_ID",
    "FLYTE_AWS_SECRET_ACCESS_KEY",
)
#: Prefixes of host variables also passed on: secrets (``_FSEC_<GROUP>_<KEY>``).
FORWARDED_ENV_PREFIXES = ("_FSEC_",)

#: Label put on every container this module creates (value: a per-run id).
RUN_LABEL = "io.shimkit.run"


class ContainerRunError(ShimError):
    """A container could not be created or started (image missing, command not found, ...)."""

    origin = "SYSTEM"
    recoverable = False
    code = "ContainerRunFailed"


@dataclass(frozen=True)
class ContainerResult:
    """How a container run ended: its exit code, its combined stdout+stderr, whether it timed out.

    After a timeout the container was killed; ``exit_code`` is what the engine reported then
    (137 for SIGKILL), or -1 if it reported nothing.
    """

    exit_code: int
    logs: str
    timed_out: bool = False


def run_container(
    image: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    mounts: Sequence[tuple[str, str, str]] = (),
    network: str = "host",
    timeout: float = 600,
    user: str | None = None,
    client: Any = None,
    entrypoint: Sequence[str] | None = None,
    workdir: str | None = None,
    labels: Mapping[str, str] | None = None,
    stop_grace: float = 10.0,
) -> ContainerResult:
    """Run ``image`` with ``args`` as its command and wait at most ``timeout`` seconds.

    ``mounts`` are bind mounts ``(host_path, container_path, mode)`` with mode ``"rw"`` or
    ``"ro"``. ``network`` is a network mode (``"host"``, ``"bridge"``, ``"none"``, ...).
    ``user`` overrides the image's user (``"uid"`` or ``"uid:gid"``). ``entrypoint`` overrides
    the image's ENTRYPOINT (default: keep it; shimkit's images have none). The container is
    removed on every path: normal exit, failure, timeout (killed first) and interruption.
    On Ctrl-C (``KeyboardInterrupt``) the container is stopped first (SIGTERM, then SIGKILL
    after ``stop_grace`` seconds: a task writes its error document), then the interrupt
    propagates.

    Raises :class:`ContainerRunError` if the container cannot be created or started (missing
    image, command not in the image) and :class:`~shim.images.ContainerEngineError` if the
    engine cannot be reached.
    """
    own_client = client is None
    client = connect(client)
    import docker.errors

    for host_path, _, mode in mounts:
        if mode not in ("rw", "ro"):
            raise ValueError(f"mount mode must be 'rw' or 'ro', got {mode!r}")
        if not os.path.isabs(host_path):
            raise ValueError(f"bind mount source must be an absolute path, got {host_path!r}")
    volumes = {h: {"bind": c, "mode": m} for h, c, m in mounts}
    run_labels = {RUN_LABEL: uuid.uuid4().hex, **(labels or {})}
    kwargs: dict[str, Any] = {
        "command": list(args),
        "environment": dict(env or {}),
        "volumes": volumes,
        "network_mode": network,
        "labels": run_labels,
        "detach": True,
    }
    if user is not None:
        kwargs["user"] = user
    if entrypoint is not None:
        kwargs["entrypoint"] = list(entrypoint) or [""]
    if workdir is not None:
        kwargs["working_dir"] = workdir

    container = None
    try:
        try:
            container = client.containers.create(image, **kwargs)
        except docker.errors.ImageNotFound as e:
            raise ContainerRunError(
                f"image {image!r} not found in the engine at {_engine()}: build it first "
                "(`shim images build`) or pull it"
            ) from e
        except docker.errors.APIError as e:
            raise ContainerRunError(f"cannot create a container from {image!r}: {_api(e)}") from e
        try:
            container.start()
        except docker.errors.APIError as e:
            raise ContainerRunError(
                f"cannot start {image!r} with command {list(args)!r}: {_api(e)}"
            ) from e
        exit_code = _wait(container, time.monotonic() + timeout)
        timed_out = exit_code is None
        if timed_out:
            try:
                container.kill()
            except docker.errors.APIError:
                pass  # it may have exited meanwhile
            exit_code = _wait(container, time.monotonic() + 30)
        logs = container.logs(stdout=True, stderr=True)
        text = logs.decode("utf-8", "replace") if isinstance(logs, bytes) else str(logs)
        return ContainerResult(
            exit_code=-1 if exit_code is None else exit_code, logs=text, timed_out=timed_out
        )
    except KeyboardInterrupt:
        if container is not None:
            _stop(container, stop_grace)
        raise
    except docker.errors.DockerException as e:
        raise ContainerEngineError(f"container engine at {_engine()} failed: {_api(e)}") from e
    except OSError as e:  # requests' ConnectionError: the engine went away
        raise ContainerEngineError(f"lost the container engine at {_engine()}: {e}") from e
    finally:
        unwinding = sys.exc_info()[1] is not None
        try:
            if container is not None:
                _remove(container)
        except Exception:
            if not unwinding:
                raise
            # already unwinding with the error that matters: do not mask it
        finally:
            if own_client:
                client.close()


def _wait(container: Any, deadline: float) -> int | None:
    """The container's exit code, or None if it is still running at ``deadline``."""
    import requests

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            status = container.wait(timeout=max(1.0, min(remaining, 300.0)))
            return int(status.get("StatusCode", -1))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            # no answer within the read timeout (docker-py reports it as either error):
            # still running, or did it end just now? A dead engine raises from reload().
            container.reload()
            state = container.attrs.get("State") or {}
            if state.get("Status") in ("exited", "dead"):
                return int(state.get("ExitCode", -1))


def _stop(container: Any, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; errors are left to the removal after."""
    with contextlib.suppress(Exception):
        container.stop(timeout=max(0, round(grace)))


def _remove(container: Any) -> None:
    """Kill (if running) and remove ``container``; an already gone one is fine."""
    import docker.errors

    for attempt in range(3):
        try:
            container.remove(force=True, v=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if "already in progress" in str(e):  # Docker: another removal is under way
                return
            if attempt == 2:
                raise ContainerRunError(
                    f"could not remove container {container.id[:12]}: {_api(e)}; remove it "
                    f"with `docker rm -f {container.id[:12]}`"
                ) from e
            time.sleep(0.5)


def _engine() -> str:
    from shim.images import engine_url

    return engine_url()


def _api(e: BaseException) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).strip()


def _local_dir(url: str) -> str | None:
    """The absolute local directory of a plain path or ``file://`` URL (as storage reads it:
    no percent-decoding); None for remote URLs."""
    from shim.storage import is_local, local_path

    return os.path.abspath(local_path(url)) if is_local(url) else None


def _open_up(path: str) -> None:
    """Directories under ``path`` (and itself) to 0o777, files world-readable."""
    os.chmod(path, 0o777)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            p = os.path.join(root, d)
            if not os.path.islink(p):
                os.chmod(p, 0o777)
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                mode = os.stat(p).st_mode
                os.chmod(p, mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def forwarded_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The storage and secret variables of ``environ`` (default: ``os.environ``) to pass on."""
    environ = os.environ if environ is None else environ
    return {
        k: v
        for k, v in environ.items()
        if k in FORWARDED_ENV or k.startswith(FORWARDED_ENV_PREFIXES)
    }


def run_task_in_container(
    image: str,
    rendered_args: Sequence[str],
    *,
    stage_dir: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600,
    user: str | None = None,
    network: str = "host",
    forward_env: bool = True,
    client: Any = None,
    read_only_paths: Sequence[str] = (),
    what: str = "the task",
    stop_grace: float = 15.0,
) -> ContainerResult:
    """Run one task execution in ``image``: the local runner's ``runner="container"``.

    ``rendered_args`` are the template's container args with the backend's variables already
    substituted (:func:`render_args`) by paths or URLs under ``stage_dir``. A local
    ``stage_dir`` (plain path or ``file://``) is bind-mounted read-write at the same path in
    the container; a remote one (``s3://...``) is reached over the network instead.

    The environment is the host's storage configuration (:data:`FORWARDED_ENV`, ``_FSEC_*``
    secrets; skip with ``forward_env=False``) overlaid with ``env``. ``user=None`` chooses as
    the module docstring explains (image user + world-writable staging dir when the host user
    is root, else the host's ``uid:gid``).

    ``read_only_paths`` are the local files and directories the task reads
    (:meth:`TaskTemplate.local_paths <shim.task.template.TaskTemplate.local_paths>`, e.g. an
    SQLite database): each one that exists here is bind-mounted read-only at the same path,
    so the template's paths mean the same file inside the container. One that does not exist
    here is left to the image (it may be a path inside it). ``what`` names the task in
    messages. Raises :class:`LocalPathError` before anything starts for a relative path or
    one the container's user could not read.

    On Ctrl-C the container gets SIGTERM and ``stop_grace`` seconds (more than the
    supervisor's own grace for its worker, ``SHIM_TERM_GRACE``, 10 s) to write its error
    document, then the ``KeyboardInterrupt`` propagates.
    """
    full_env = forwarded_env() if forward_env else {}
    as_host_user = user is None and hasattr(os, "getuid") and os.getuid() != 0
    ro = _read_only_mounts(read_only_paths, other_user=user is None and not as_host_user, what=what)
    # read-only paths first, so a stage dir nested inside one is mounted over it
    mounts: list[tuple[str, str, str]] = [(p, p, "ro") for p in ro]
    local = _local_dir(stage_dir)
    if local is not None:
        os.makedirs(local, exist_ok=True)
        mounts.append((local, local, "rw"))
    if as_host_user:
        user = f"{os.getuid()}:{os.getgid()}"
        full_env.setdefault("HOME", "/tmp")
    elif local is not None and user is None:
        _open_up(local)
    full_env.update(env or {})
    return run_container(
        image,
        rendered_args,
        env=full_env,
        mounts=mounts,
        network=network,
        timeout=timeout,
        user=user,
        client=client,
        stop_grace=stop_grace,
    )


class LocalPathError(UserError):
    """A local path a task reads cannot be given to its container."""

    code = "LocalPathUnusable"


def _read_only_mounts(paths: Sequence[str], *, other_user: bool, what: str) -> list[str]:
    """The paths to mount read-only (existing ones, deduplicated), checked before starting.

    ``other_user``: the container runs as the image's user (uid 1000 in shimkit's images)
    while this process runs as root, so a path must be readable by others.
    """
    out: list[str] = []
    for path in paths:
        if not os.path.isabs(path):
            raise LocalPathError(
                f"{what} reads the local path {path!r}, which is relative: local paths are "
                "mounted into the container at the same path, so they must be absolute"
            )
        path = os.path.normpath(path)
        if not os.path.exists(path) or path in out:
            continue  # perhaps a path inside the image; the task reports it if it is not
        if other_user:
            mode = os.stat(path).st_mode
            need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
            if mode & need != need:
                fix = "chmod o+rx" if stat.S_ISDIR(mode) else "chmod o+r"
                raise LocalPathError(
                    f"{what} reads {path}, which the container's user cannot read (the image "
                    f"runs as a non-root user; this process runs as root): make it readable "
                    f"(`{fix} {path}`), or put it where the container can fetch it (s3://...)"
                )
        out.append(path)
    return out
