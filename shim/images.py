"""The container images shimkit ships, and building them with the docker SDK.

The Dockerfiles live in ``images/<name>/Dockerfile`` of the source tree; their build context
is the repository root (``.dockerignore`` there sends only ``pyproject.toml``, ``README.md``,
``shim/`` and ``executors/``). Builds go through the Python ``docker`` SDK, so they work with
Docker and with podman's Docker-compatible socket alike: ``DOCKER_HOST`` chooses the engine
(e.g. ``unix:///run/podman/podman.sock`` after ``podman system service``).

The docker SDK is imported lazily, inside the functions that need it: importing this module
costs nothing but the standard library.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shim import envconf
from shim.errors import ShimError

__all__ = [
    "IMAGES",
    "ContainerEngineError",
    "ImageBuildError",
    "ImageSpec",
    "build_directory",
    "build_image",
    "connect",
    "engine_url",
    "find_repo_root",
    "shim_version",
]

#: Lines of the build log quoted in an :class:`ImageBuildError`.
LOG_TAIL_LINES = 40
#: HTTP read timeout of a build: a silent step (a long pip install) must not cut it short.
BUILD_TIMEOUT = 3600


class ContainerEngineError(ShimError):
    """No Docker-compatible container engine can be reached (or the docker SDK is missing)."""

    origin = "SYSTEM"
    recoverable = False
    code = "ContainerEngineUnavailable"


class ImageBuildError(ShimError):
    """An image build failed; ``log`` holds the whole build log, the message its last lines."""

    origin = "SYSTEM"
    recoverable = False
    code = "ImageBuildFailed"

    def __init__(self, message: str, *, log: str = "") -> None:
        super().__init__(message)
        self.log = log


def shim_version() -> str:
    """The installed shimkit distribution's version, or ``"dev"`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("shimkit")
    except PackageNotFoundError:
        return "dev"


def _tag_safe(version: str) -> str:
    """A version as a valid image tag (``0.1.0+local`` -> ``0.1.0-local``)."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", version)
    return tag[:128] if tag and tag[0] not in ".-" else f"v{tag}"[:128]


@dataclass(frozen=True)
class ImageSpec:
    """One shipped image: its Dockerfile (relative to the repository root) and default tag."""

    dockerfile: str
    tag: str
    description: str = ""
    #: the shipped image this one is built FROM (its tag is passed as ``SHIMKIT_BASE``)
    base: str | None = None


VERSION = shim_version()

#: The images this source tree ships, by short name (``shim images build <name>``).
IMAGES: dict[str, ImageSpec] = {
    "base": ImageSpec(
        dockerfile="images/base/Dockerfile",
        tag=f"shimkit-base:{_tag_safe(VERSION)}",
        description="the shimkit runtime (shim execute / pyflyte-execute) with s3fs",
    ),
    "sqlite3": ImageSpec(
        dockerfile="images/sqlite3/Dockerfile",
        tag=f"shimkit-sqlite3:{_tag_safe(VERSION)}",
        description="the runtime plus the SQLite3 executor, pyarrow and adbc-driver-sqlite",
    ),
    "sqlalchemy": ImageSpec(
        dockerfile="images/sqlalchemy/Dockerfile",
        tag=f"shimkit-sqlalchemy:{_tag_safe(VERSION)}",
        description="the base image plus the SQLAlchemy executor, SQLAlchemy, psycopg 3, pyarrow",
        base="base",
    ),
}


def engine_url() -> str:
    """The engine address the docker SDK will use: ``DOCKER_HOST`` or Docker's default socket."""
    return envconf.text("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _unreachable(detail: object) -> ContainerEngineError:
    return ContainerEngineError(
        f"cannot reach a container engine at {engine_url()}: {detail}. Start Docker, or run "
        "`podman system service --time=0 unix:///tmp/podman.sock` and set "
        "DOCKER_HOST=unix:///tmp/podman.sock"
    )


def connect(client: Any = None) -> Any:
    """A connected ``docker.DockerClient`` (``client`` itself when given).

    Honours ``DOCKER_HOST`` / ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH`` like the docker CLI.
    Raises :class:`ContainerEngineError` when the SDK is missing or no engine answers.
    """
    if client is not None:
        return client
    try:
        import docker
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ContainerEngineError(
            "the docker SDK is not installed: pip install 'shimkit[docker]'"
        ) from e
    try:
        client = docker.from_env()
        client.ping()
    except Exception as e:  # DockerException, requests errors, socket errors
        raise _unreachable(_short(e)) from e
    return client


def _short(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def find_repo_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The source tree holding ``images/`` and ``pyproject.toml``, searched upwards.

    ``start`` defaults to the directory of the imported ``shim`` package, so this finds the
    checkout shimkit was installed from in editable/development mode.
    """
    if start is None:  # this module sits in the shim package: no import of it needed
        start = Path(__file__).resolve().parent
    here = Path(start).resolve()
    for d in (here, *here.parents):
        if (d / "images").is_dir() and (d / "pyproject.toml").is_file():
            return d
    raise ShimError(
        f"cannot find shimkit's source tree (a directory with images/ and pyproject.toml) "
        f"above {here}; pass --repo-root (repo_root=) pointing at a shimkit checkout"
    )


def _git_revision(repo_root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo_root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip()
    return rev if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", rev) else None


def build_image(
    name: str,
    *,
    repo_root: str | os.PathLike[str] | None = None,
    base_image: str | None = None,
    tag: str | None = None,
    client: Any = None,
    quiet: bool = True,
    build_args: dict[str, str] | None = None,
    nocache: bool = False,
) -> str:
    """Build the shipped image ``name`` (a key of :data:`IMAGES`) and return its tag.

    ``repo_root`` is the build context (default: :func:`find_repo_root`); ``base_image`` sets
    the ``BASE_IMAGE`` build argument (default: the Dockerfile's ``python:3.11-slim-bookworm``);
    ``tag`` replaces the catalogue's tag. With ``quiet=False`` the build log streams to stderr.
    ``SHIM_VERSION`` and (when git knows it) ``REVISION`` are passed as build arguments for the
    OCI labels. An image built FROM another shipped image (``ImageSpec.base``, e.g.
    ``sqlalchemy`` FROM ``base``) gets that image's tag as ``SHIMKIT_BASE``; build the base
    first (``shim images build`` builds them in catalogue order). Raises
    :class:`ContainerEngineError` when no engine answers and
    :class:`ImageBuildError` (quoting the end of the build log) when the build fails.
    """
    try:
        spec = IMAGES[name]
    except KeyError:
        raise ShimError(f"unknown image {name!r}; shipped images: {', '.join(IMAGES)}") from None
    root = Path(repo_root).resolve() if repo_root is not None else find_repo_root()
    dockerfile = root / spec.dockerfile
    if not dockerfile.is_file():
        raise ShimError(
            f"{dockerfile} does not exist; pass --repo-root (repo_root=) pointing at a "
            "shimkit checkout"
        )
    ref = tag or spec.tag
    args: dict[str, str] = {"SHIM_VERSION": VERSION}
    revision = _git_revision(root)
    if revision:
        args["REVISION"] = revision
    if base_image:
        args["BASE_IMAGE"] = base_image
    if spec.base is not None:  # built FROM another shipped image: build that one first
        args["SHIMKIT_BASE"] = IMAGES[spec.base].tag
    args.update(build_args or {})

    _build(
        client,
        context=root,
        dockerfile=spec.dockerfile,
        tag=ref,
        buildargs=args,
        nocache=nocache,
        quiet=quiet,
        what=f"image {name!r} ({spec.dockerfile}, context {root})",
    )
    return ref


def build_directory(
    path: str | os.PathLike[str],
    tag: str,
    *,
    dockerfile: str = "Dockerfile",
    build_args: dict[str, str] | None = None,
    client: Any = None,
    quiet: bool = True,
    nocache: bool = False,
) -> str:
    """Build the image of a directory holding a ``Dockerfile`` (a task author's executor
    distribution, e.g. one made by ``shim new executor``) as ``tag``; return the tag.

    The Dockerfile builds ``FROM ${SHIMKIT_BASE}``: that build argument is set to this
    shimkit's base image (``IMAGES["base"].tag``) unless ``build_args`` sets it. Raises
    :class:`ContainerEngineError` when no engine answers, :class:`ImageBuildError` when the
    build fails (a missing base image included: ``shim images build base`` builds it).
    """
    root = Path(path).resolve()
    if not (root / dockerfile).is_file():
        raise ShimError(f"{root} has no {dockerfile}; name a directory that holds one")
    args = {"SHIMKIT_BASE": IMAGES["base"].tag, **(build_args or {})}
    _build(
        client,
        context=root,
        dockerfile=dockerfile,
        tag=tag,
        buildargs=args,
        nocache=nocache,
        quiet=quiet,
        what=f"image of {root}",
    )
    return tag


#: a build step in the engine's log: ``Step 3/7 : RUN ...`` (Docker), ``STEP 3/7: RUN ...``
#: (podman), ``[1/2] STEP 3/7: ...`` (podman, stage 1 of a multi-stage build)
_STEP = re.compile(r"^(?:\[(\d+)/(\d+)\]\s*)?(?:Step|STEP)\s+(\d+)/(\d+)\s*:\s*(.*)$")


def step_text(line: str) -> str | None:
    """``stage 1/2, step 3/7: RUN ...`` for a step line of a build log, else None."""
    m = _STEP.match(line.strip())
    if m is None:
        return None
    stage = f"stage {m.group(1)}/{m.group(2)}, " if m.group(1) else ""
    return f"{stage}step {m.group(3)}/{m.group(4)}: {m.group(5)}"


def _build(
    client: Any,
    *,
    context: Path,
    dockerfile: str,
    tag: str,
    buildargs: dict[str, str],
    nocache: bool,
    quiet: bool,
    what: str,
) -> None:
    """Run one build through the docker SDK, following its log: the current step goes to the
    progress display (on a terminal), the whole log to stderr with ``quiet=False``."""
    from shim import progress

    own_client = client is None
    client = connect(client)
    import docker.errors

    log: deque[str] = deque(maxlen=5000)
    error: str | None = None
    image_id: str | None = None
    try:
        with progress.steps(f"building {tag}") as status:
            stream = client.api.build(
                path=str(context),
                dockerfile=dockerfile,
                tag=tag,
                buildargs=buildargs,
                decode=True,
                rm=True,
                forcerm=True,
                pull=False,
                nocache=nocache,
                timeout=BUILD_TIMEOUT,
            )
            for chunk in stream:
                text = chunk.get("stream") or chunk.get("status") or ""
                if text:
                    lines = text.rstrip("\n").splitlines() or [""]
                    log.extend(lines)
                    for line in lines:
                        step = step_text(line)
                        if step is not None:
                            status.step(step)
                    if not quiet:
                        sys.stderr.write(text if text.endswith("\n") else text + "\n")
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail") or {}
                    error = (detail.get("message") or chunk.get("error") or "build failed").strip()
                    log.append(error)
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = aux["ID"]
    except docker.errors.APIError as e:
        error = _short(getattr(e, "explanation", None) or e)
    except docker.errors.DockerException as e:
        raise _unreachable(_short(e)) from e
    except OSError as e:  # requests' ConnectionError/ReadTimeout are OSErrors
        raise _unreachable(_short(e)) from e
    finally:
        if own_client:
            client.close()
    full_log = "\n".join(log)
    if error is not None:
        tail = "\n".join(list(log)[-LOG_TAIL_LINES:])
        raise ImageBuildError(
            f"building {what} as {tag} failed: "
            f"{error}\n--- last lines of the build log ---\n{tail}",
            log=full_log,
        )
    if image_id is None and not any(line.startswith("Successfully") for line in log):
        raise ImageBuildError(
            f"building {what} as {tag}: the engine ended the build without an image "
            f"id\n--- last lines of the build log ---\n" + "\n".join(list(log)[-LOG_TAIL_LINES:]),
            log=full_log,
        )
