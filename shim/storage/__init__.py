"""Object storage for shimkit: bytes, files and trees on local paths and fsspec URLs.

``from shim.storage import Storage, Transfer, join, is_local, local_path, default_storage``.

Local URLs (plain paths and ``file://``) use os/shutil directly and never import fsspec;
every other scheme goes through fsspec, imported on first use (s3fs only for ``s3://``).
See :class:`Storage` for the retry contract and :mod:`shim.storage.remote` for the S3
environment variables.

:func:`default_storage` is configured from the environment:

- ``SHIM_STORAGE_RETRIES``: maximum attempts per operation (default 5)
- ``SHIM_STORAGE_DEADLINE``: seconds after which no new attempt starts (default 120)
- ``SHIM_STORAGE_BACKOFF``: base of the exponential backoff in seconds (default 0.2)
- ``SHIM_STORAGE_MAX_CONCURRENCY``: parallel copies in transfer/put_dir/get_dir (default 8)
"""

from __future__ import annotations

import threading

from shim import envconf

from .core import Storage, Transfer
from .remote import reset_cache as _reset_fs_cache
from .remote import s3_options
from .urls import is_local, join, local_path

__all__ = [
    "Storage",
    "Transfer",
    "default_storage",
    "is_local",
    "join",
    "local_path",
    "reset_cache",
    "s3_options",
]

_lock = threading.Lock()
_default: Storage | None = None


def default_storage() -> Storage:
    """The process-wide :class:`Storage`, configured from ``SHIM_STORAGE_*`` (see module
    doc). Created on first use; :func:`reset_cache` makes the next call re-read the env."""
    global _default
    with _lock:
        if _default is None:
            _default = Storage(
                retries=envconf.integer("SHIM_STORAGE_RETRIES", 5, minimum=1),
                deadline=envconf.number("SHIM_STORAGE_DEADLINE", 120.0, minimum=0, unit="seconds"),
                backoff=envconf.number("SHIM_STORAGE_BACKOFF", 0.2, minimum=0, unit="seconds"),
                max_concurrency=envconf.integer("SHIM_STORAGE_MAX_CONCURRENCY", 8, minimum=1),
            )
        return _default


def reset_cache() -> None:
    """Forget the cached filesystems (s3fs, ...) and the default Storage, so that changed
    environment variables take effect. Meant for tests and long-lived processes."""
    global _default
    with _lock:
        _default = None
    _reset_fs_cache()
