"""fsspec filesystems for remote URLs, created on first use and cached per process.

fsspec (and s3fs) are imported here, inside functions, never at module import: local runs
must not pay for them.

S3 configuration (read when the filesystem is first created; :func:`reset_cache` re-reads):

- endpoint: ``FLYTE_AWS_ENDPOINT``, else ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL``;
  with a custom endpoint, path-style addressing is used (MinIO, moto, most S3-compatibles).
- credentials: ``FLYTE_AWS_ACCESS_KEY_ID`` + ``FLYTE_AWS_SECRET_ACCESS_KEY`` if set (both
  are required), else botocore's own chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
  ``AWS_SESSION_TOKEN``, profiles, web identity, instance metadata, ...).
- region: ``AWS_REGION``, else ``AWS_DEFAULT_REGION``.
- timeouts: ``SHIM_STORAGE_CONNECT_TIMEOUT`` (seconds, default 5) and
  ``SHIM_STORAGE_READ_TIMEOUT`` (seconds without a byte of the response, default 30), so that
  a server that stalls becomes a transient error that is retried, never a hang.

One retry layer (:mod:`shim.storage.retry`): shimkit's loop is in control of backoff,
attempts and the deadline, so the clients below it do not retry on their own where that can
be switched off. botocore makes one attempt per request (``total_max_attempts=1``) and s3fs
one per call (:data:`S3FS_RETRIES`); a failing S3 call therefore sends exactly
``SHIM_STORAGE_RETRIES`` requests (before: up to twice that, as s3fs re-tried each request
once inside each of shimkit's attempts). gcsfs and the Azure SDK under adlfs retry every
request with a fixed policy of their own that cannot be switched off per filesystem (gcsfs:
6 attempts, in a decorator bound when its class is defined; azure-core: 3 retries, and adlfs
passes no retry settings to the client); for their schemes (:data:`SELF_RETRYING`) shimkit
makes one attempt and classifies the result, so their retries are not multiplied either.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from shim import envconf
from shim.errors import UserError

from .urls import scheme_of, split_bucket

#: attempts s3fs makes per call (s3fs calls it ``retries``): one, shimkit retries
S3FS_RETRIES = 1
#: schemes whose client retries each request itself -> the library that does
SELF_RETRYING = {
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "abfs": "adlfs/azure-core",
    "abfss": "adlfs/azure-core",
    "az": "adlfs/azure-core",
}
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
S3_SCHEMES = ("s3", "s3a")
_INSTALL_HINTS = {
    "s3": "pip install 'shimkit[s3]'",
    "s3a": "pip install 'shimkit[s3]'",
    "gs": "pip install gcsfs",
    "gcs": "pip install gcsfs",
    "abfs": "pip install adlfs",
    "abfss": "pip install adlfs",
    "az": "pip install adlfs",
}

_lock = threading.Lock()
_cache: dict[tuple[int, str], Any] = {}


def reset_cache() -> None:
    """Forget every cached filesystem so the next use re-reads the environment."""
    with _lock:
        _cache.clear()


def s3_options(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``s3fs.S3FileSystem`` from the environment (see module doc)."""
    env = os.environ if env is None else env

    def text(name: str) -> str | None:
        return envconf.text(name, environ=env)

    endpoint = text("FLYTE_AWS_ENDPOINT") or text("AWS_ENDPOINT_URL_S3") or text("AWS_ENDPOINT_URL")
    key = text("FLYTE_AWS_ACCESS_KEY_ID")
    secret = text("FLYTE_AWS_SECRET_ACCESS_KEY")
    region = text("AWS_REGION") or text("AWS_DEFAULT_REGION")

    config_kwargs: dict[str, Any] = {
        "retries": {"total_max_attempts": 1},
        "connect_timeout": _seconds(env, "SHIM_STORAGE_CONNECT_TIMEOUT", CONNECT_TIMEOUT),
        "read_timeout": _seconds(env, "SHIM_STORAGE_READ_TIMEOUT", READ_TIMEOUT),
    }
    client_kwargs: dict[str, Any] = {}
    opts: dict[str, Any] = {
        "skip_instance_cache": True,
        "use_listings_cache": False,
        "config_kwargs": config_kwargs,
        "client_kwargs": client_kwargs,
    }
    if endpoint:
        opts["endpoint_url"] = endpoint
        config_kwargs["s3"] = {"addressing_style": "path"}
    if bool(key) != bool(secret):
        have, missing = (
            ("FLYTE_AWS_ACCESS_KEY_ID", "FLYTE_AWS_SECRET_ACCESS_KEY")
            if key
            else ("FLYTE_AWS_SECRET_ACCESS_KEY", "FLYTE_AWS_ACCESS_KEY_ID")
        )
        raise UserError(
            f"{have} is set but {missing} is not: set both, or neither to use the standard "
            "AWS credential chain",
            code="InvalidConfig",
        )
    if key:
        opts["key"] = key
        opts["secret"] = secret
    if region:
        client_kwargs["region_name"] = region
    return opts


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    return envconf.number(name, default, positive=True, unit="seconds", environ=env)


def _unsupported(scheme: str, url: str, detail: str = "") -> UserError:
    msg = (
        f"unsupported URL scheme '{scheme}' in '{url}': supported are file (or a plain path), "
        "memory, s3, gs, abfs and the other fsspec protocols "
        "(install shimkit[s3] for s3, gcsfs for gs, adlfs for abfs)"
    )
    if detail:
        msg += f"; {detail}"
    return UserError(msg, code="UnsupportedURL")


def _make_s3(url: str) -> Any:
    try:
        import s3fs
    except ImportError as e:
        raise UserError(
            f"'{url}' is an S3 URL but s3fs is not installed: {_INSTALL_HINTS['s3']}",
            code="UnsupportedURL",
        ) from e
    fs = s3fs.S3FileSystem(**s3_options())
    fs.retries = S3FS_RETRIES
    return fs


def _make_generic(scheme: str, url: str) -> Any:
    import fsspec
    from fsspec.registry import known_implementations, registry

    if scheme not in registry and scheme not in known_implementations:
        raise _unsupported(scheme, url)
    try:
        return fsspec.filesystem(scheme)
    except ImportError as e:
        hint = _INSTALL_HINTS.get(scheme) or str(e) or "a package is missing"
        raise UserError(
            f"URL scheme '{scheme}' in '{url}' needs an extra package: {hint}",
            code="UnsupportedURL",
        ) from e


def filesystem(url: str) -> tuple[Any, str]:
    """The (cached) fsspec filesystem for a remote ``url`` and the path within it."""
    scheme = scheme_of(url)
    if scheme in S3_SCHEMES and not split_bucket(url)[0]:
        raise UserError(
            f"'{url}' names no bucket: an S3 URL is {scheme}://<bucket>/<key>", code="InvalidURL"
        )
    key = (os.getpid(), "s3" if scheme in S3_SCHEMES else scheme)
    with _lock:
        fs = _cache.get(key)
        if fs is None:
            fs = _make_s3(url) if scheme in S3_SCHEMES else _make_generic(scheme, url)
            _cache[key] = fs
    return fs, fs._strip_protocol(url)
