"""Task settings as values: resources, caching, reuse, secrets, docs, pod templates, timeouts."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Resources:
    """CPU, memory, GPU and disk for the task's container.

    Each field is a request, or a ``(request, limit)`` tuple. Values are Kubernetes quantities
    (``"500m"``, ``2``, ``"4Gi"``).
    """

    cpu: str | int | float | tuple | None = None
    memory: str | tuple | None = None
    gpu: str | int | tuple | None = None
    disk: str | tuple | None = None

    def requests_and_limits(self) -> tuple[dict[str, str], dict[str, str]]:
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        for name in ("cpu", "memory", "gpu", "disk"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, tuple):
                if len(value) != 2:
                    raise ValueError(f"Resources.{name}: expected (request, limit), got {value!r}")
                req, lim = value
                if req is not None:
                    requests[name] = str(req)
                if lim is not None:
                    limits[name] = str(lim)
            else:
                requests[name] = str(value)
        return requests, limits


@dataclass(frozen=True)
class Cache:
    """Result caching: ``behavior`` is ``"auto"``, ``"override"`` or ``"disable"``.

    ``version`` is the cache version (the discovery version); with ``"auto"`` and no version,
    shimkit derives one from the task's template, so a changed query invalidates the cache.
    """

    behavior: Literal["auto", "override", "disable"] = "auto"
    version: str | None = None
    serialize: bool = False
    ignored_inputs: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.behavior != "disable"


@dataclass(frozen=True)
class ReusePolicy:
    """Keep the task's container alive across invocations (``replicas``, ``idle_ttl``).

    ``concurrency`` is how many calls one container runs at once (async tasks only).
    """

    replicas: int | tuple[int, int] = 1
    idle_ttl: int | _dt.timedelta | None = None
    concurrency: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise TypeError(f"ReusePolicy.concurrency must be an int, got {self.concurrency!r}")
        if self.concurrency < 1:
            raise ValueError(f"ReusePolicy.concurrency must be >= 1, got {self.concurrency}")


@dataclass(frozen=True)
class Secret:
    """A secret the platform injects: env var ``_FSEC_<GROUP>_<KEY>`` or a file."""

    group: str
    key: str | None = None
    mount_requirement: Literal["any", "env", "file"] = "any"


@dataclass(frozen=True)
class Documentation:
    short_description: str = ""
    long_description: str = ""


@dataclass(frozen=True)
class PodTemplate:
    """A pod template by name (registered on the cluster) or inline spec (a dict)."""

    name: str | None = None
    primary_container_name: str = "primary"
    pod_spec: dict = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryStrategy:
    count: int


@dataclass(frozen=True)
class Timeout:
    """``max_runtime`` bounds the execution; ``max_queued_time`` is kept for API parity."""

    max_runtime: _dt.timedelta | int
    max_queued_time: _dt.timedelta | int | None = None


def as_timedelta(value: _dt.timedelta | int | float | Timeout | None) -> _dt.timedelta | None:
    if value is None:
        return None
    if isinstance(value, Timeout):
        value = value.max_runtime
    if isinstance(value, _dt.timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"timeout must be seconds or a timedelta, got {value!r}")
    return _dt.timedelta(seconds=value)


def retry_count(value: int | RetryStrategy) -> int:
    n = value.count if isinstance(value, RetryStrategy) else value
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"retries must be a non-negative int, got {value!r}")
    return n
