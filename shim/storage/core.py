"""The :class:`Storage` facade: one API for local paths, ``file://`` and fsspec URLs."""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from shim.errors import StorageError, StorageNotFoundError, UserError

from . import local as _local
from . import remote as _remote
from . import retry as _retry
from .urls import is_local, join, local_path, scheme_of, split_bucket

T = TypeVar("T")


@dataclass(frozen=True)
class Transfer:
    """One copy for :meth:`Storage.transfer`: a file (or with ``is_dir`` a tree) from ``src``
    to ``dst``. Either side may be local or remote."""

    src: str
    dst: str
    is_dir: bool = False
    #: the source may be consumed: between local paths on one filesystem it is renamed into
    #: place (atomically) instead of copied
    move: bool = False


class Storage:
    """Object storage over local paths (os/shutil) and fsspec URLs (s3://, memory://, ...).

    Remote operations are retried on transient failures (see :mod:`shim.storage.retry`) with
    exponential backoff and full jitter: ``retries`` is the maximum number of attempts of
    one operation (the first included), the sleep before attempt *n+1* is uniform in
    ``[0, min(max_backoff, backoff * 2**(n-1))]``, and no new attempt starts after
    ``deadline`` seconds. Then :class:`~shim.errors.StorageError` names the operation, the
    URL, the attempts and the last cause. A missing object raises
    :class:`~shim.errors.StorageNotFoundError` at once; permission denied and other
    non-transient failures raise a non-recoverable ``StorageError`` at once.

    Local operations are not retried. Writes to local paths (``put_bytes``, ``put_file``,
    ``get_file``) are atomic (temporary file in the same directory, then ``os.replace``;
    puts also fsync) and create parent directories.
    """

    def __init__(
        self,
        *,
        retries: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        deadline: float = 120.0,
        max_concurrency: int = 8,
    ) -> None:
        if retries < 1 or max_concurrency < 1 or backoff < 0 or max_backoff < 0 or deadline < 0:
            raise ValueError(
                "Storage needs retries >= 1, max_concurrency >= 1 and non-negative "
                f"backoff/max_backoff/deadline (got retries={retries}, backoff={backoff}, "
                f"max_backoff={max_backoff}, deadline={deadline}, "
                f"max_concurrency={max_concurrency})"
            )
        self.policy = _retry.RetryPolicy(retries, backoff, max_backoff, deadline)
        self.max_concurrency = max_concurrency

    def __repr__(self) -> str:
        p = self.policy
        return (
            f"Storage(retries={p.retries}, backoff={p.backoff}, max_backoff={p.max_backoff}, "
            f"deadline={p.deadline}, max_concurrency={self.max_concurrency})"
        )

    # --- plumbing -------------------------------------------------------------------------

    def _remote(
        self,
        op: str,
        url: str,
        fn: Callable[[Any, str], T],
        *,
        cancel: threading.Event | None = None,
    ) -> T:
        fs, path = _remote.filesystem(url)
        return _retry.call(
            op,
            url,
            lambda: fn(fs, path),
            self.policy_for(url),
            not_found=lambda exc: _not_found(fs, url, exc),
            cancel=cancel,
        )

    def policy_for(self, url: str) -> _retry.RetryPolicy:
        """The retry policy of operations on ``url``: one attempt where the backend's client
        retries each request itself (gcsfs, adlfs), so that retries are never multiplied."""
        owner = _remote.SELF_RETRYING.get(scheme_of(url))
        if owner is None:
            return self.policy
        return dataclasses.replace(self.policy, retries=1, retried_by=owner)

    # --- bytes --------------------------------------------------------------------------

    def get_bytes(self, url: str) -> bytes:
        """The whole content of the object at ``url``."""
        url = os.fspath(url)
        if is_local(url):
            with (
                _LocalErrors("get_bytes", url, reading=True),
                builtins.open(local_path(url), "rb") as f,
            ):
                return f.read()
        return self._remote("get_bytes", url, lambda fs, p: fs.cat_file(p))

    def put_bytes(self, url: str, data: bytes, *, durable: bool = True) -> None:
        """Create or replace the object at ``url`` (atomically for local paths).

        ``durable=False`` skips the fsyncs of a local write (still atomic): for files read
        right away on this machine and worthless after a crash of it (a local run's staged
        template and inputs), where two fsyncs would cost more than the rest of the write.
        """
        url = os.fspath(url)
        data = bytes(data)
        if is_local(url):
            with _LocalErrors("put_bytes", url):
                _local.atomic_write(local_path(url), lambda f: f.write(data), fsync=durable)
            return
        self._remote("put_bytes", url, lambda fs, p: fs.pipe_file(p, data))

    # --- files and trees ----------------------------------------------------------------

    def get_file(self, url: str, local: str | os.PathLike[str]) -> None:
        """Download ``url`` to the local path ``local`` (streamed, atomic)."""
        self._copy(os.fspath(url), os.fspath(local), "get_file")

    def put_file(self, local: str | os.PathLike[str], url: str) -> None:
        """Upload the local file ``local`` to ``url`` (streamed; multipart on S3)."""
        self._copy(os.fspath(local), os.fspath(url), "put_file")

    def get_dir(self, url: str, local: str | os.PathLike[str]) -> None:
        """Download every file below ``url`` into the local directory ``local``
        concurrently. An empty or absent remote prefix gives an empty directory (object
        stores have no directories); a missing bucket raises ``StorageNotFoundError``."""
        self.transfer([Transfer(os.fspath(url), os.fspath(local), is_dir=True)])

    def put_dir(self, local: str | os.PathLike[str], url: str) -> None:
        """Upload every file below the local directory ``local`` to ``url`` concurrently.
        Empty directories are not represented."""
        self.transfer([Transfer(os.fspath(local), os.fspath(url), is_dir=True)])

    def transfer(self, items: list[Transfer]) -> None:
        """Run several copies concurrently (at most ``max_concurrency`` at once), each with
        its own retries. Directory items are expanded into their files first. The first
        failure cancels what has not started (and stops retries of what has) and is raised
        once the running copies have ended."""
        pairs: list[tuple[str, str, str, bool]] = []
        for item in items:
            if item.is_dir:
                expanded = self._expand_dir(os.fspath(item.src), os.fspath(item.dst))
                pairs.extend((s, d, op, item.move) for s, d, op in expanded)
            else:
                pairs.append((os.fspath(item.src), os.fspath(item.dst), "transfer", item.move))
        if not pairs:
            return
        if len(pairs) == 1 or self.max_concurrency == 1:
            for src, dst, op, move in pairs:
                self._copy(src, dst, op, move=move)
            return
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        cancel = threading.Event()
        workers = min(self.max_concurrency, len(pairs))
        pool = ThreadPoolExecutor(workers, thread_name_prefix="shim-storage")
        futures = [pool.submit(self._copy, s, d, op, cancel, move=m) for s, d, op, m in pairs]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            first = next((f.exception() for f in futures if f in done and f.exception()), None)
            if first is not None:
                raise first
        except BaseException as exc:  # the first failure, or e.g. SIGTERM / KeyboardInterrupt
            cancel.set()
            for f in futures:
                f.cancel()
            # a failed copy: wait for the copies still running, then raise; an interruption
            # (raised in this thread by a signal handler) must not wait for a stalled copy
            pool.shutdown(wait=not _interruption(exc, futures))
            raise
        pool.shutdown(wait=True)

    def _expand_dir(self, src: str, dst: str) -> list[tuple[str, str, str]]:
        src_local, dst_local = is_local(src), is_local(dst)
        op = "put_file" if src_local and not dst_local else "get_file" if dst_local else "copy"
        if src_local:
            root = local_path(src)
            if not os.path.isdir(root):
                if os.path.exists(root):
                    raise UserError(f"not a directory: {src}", code="NotADirectory")
                raise StorageNotFoundError(f"no such directory: {src}")
            rels = _local.walk_files(root)
        else:
            rels = self._list_rel("list", src)
        if dst_local:
            os.makedirs(local_path(dst), exist_ok=True)
        return [(join(src, rel), join(dst, rel), op) for rel in rels]

    def _copy(
        self,
        src: str,
        dst: str,
        op: str,
        cancel: threading.Event | None = None,
        *,
        move: bool = False,
    ) -> None:
        src_local, dst_local = is_local(src), is_local(dst)
        if op == "transfer":
            op = "put_file" if src_local and not dst_local else "get_file" if dst_local else "copy"
        if src_local and dst_local:
            src_path = _check_source(op, local_path(src), src, dst)
            with _LocalErrors(op, src if op == "get_file" else dst):
                if not (move and _local.move_file(src_path, local_path(dst))):
                    _local.copy_file(src_path, local_path(dst))
        elif src_local:
            path = _check_source(op, local_path(src), src, dst)
            with _progress(f"upload to {dst}") as kw:
                self._remote(op, dst, lambda fs, p: fs.put_file(path, p, **kw), cancel=cancel)
        elif dst_local:
            target = local_path(dst)
            with _progress(f"download of {src}") as kw:

                def download(fs: Any, p: str) -> None:
                    with _local.atomic_path(target, fsync=False) as tmp:
                        fs.get_file(p, tmp, **kw)

                self._remote(op, src, download, cancel=cancel)
        else:

            def copy(fs: Any, p: str) -> None:
                dst_fs, dst_p = _remote.filesystem(dst)
                if dst_fs is fs:
                    fs.copy(p, dst_p)
                    return
                with fs.open(p, "rb") as fi, dst_fs.open(dst_p, "wb") as fo:
                    _local.copy_stream(fi, fo)

            self._remote_copy(src, dst, copy, cancel)

    def _remote_copy(
        self, src: str, dst: str, fn: Callable[[Any, str], None], cancel: threading.Event | None
    ) -> None:
        fs, path = _remote.filesystem(src)
        _remote.filesystem(dst)  # fail early on an unsupported destination scheme
        _retry.call(
            "copy",
            f"{src} to {dst}",
            lambda: fn(fs, path),
            self.policy_for(dst if _remote.SELF_RETRYING.get(scheme_of(dst)) else src),
            not_found=lambda exc: _not_found(fs, src, exc),
            cancel=cancel,
        )

    # --- metadata -------------------------------------------------------------------------

    def exists(self, url: str) -> bool:
        """Whether an object (or, for local paths, a file or directory) exists at ``url``."""
        url = os.fspath(url)
        if is_local(url):
            return os.path.exists(local_path(url))
        try:
            return bool(self._remote("exists", url, lambda fs, p: fs.exists(p)))
        except StorageNotFoundError:
            return False

    def delete(self, url: str) -> None:
        """Delete the object at ``url`` and everything below it as a prefix. Missing is fine.
        Buckets themselves are never deleted."""
        url = os.fspath(url)
        if is_local(url):
            with _LocalErrors("delete", url):
                _local.remove(local_path(url))
            return

        def rm(fs: Any, p: str) -> None:
            victims = [v for v in fs.find(p) if v.rstrip("/") != p.rstrip("/")] if p else []
            if fs.isfile(p):
                victims.append(p)
            if victims:
                fs.rm(victims)

        try:
            self._remote("delete", url, rm)
        except StorageNotFoundError:
            pass

    def delete_object(self, url: str) -> None:
        """Delete the single object at ``url`` (one request; not a prefix). Missing is fine."""
        url = os.fspath(url)
        if is_local(url):
            path = local_path(url)
            if not os.path.isdir(path):
                with _LocalErrors("delete", url):
                    _local.remove(path)
            return

        def rm_file(fs: Any, p: str) -> None:
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(p)

        with contextlib.suppress(StorageNotFoundError):
            self._remote("delete", url, rm_file)

    def size(self, url: str) -> int:
        """Size in bytes of the object at ``url``."""
        url = os.fspath(url)
        if is_local(url):
            with _LocalErrors("size", url, reading=True):
                return os.path.getsize(local_path(url))
        return int(self._remote("size", url, lambda fs, p: fs.size(p)))

    def list(self, url: str) -> list[str]:
        """Full URLs of the files below ``url`` (recursive, sorted), in the style of ``url``
        (plain paths stay paths). ``[url]`` when ``url`` is itself a file; ``[]`` when
        nothing is there."""
        url = os.fspath(url)
        return [join(url, rel) if rel else url for rel in self._list_rel("list", url)]

    def _list_rel(self, op: str, url: str) -> list[str]:
        """Relative POSIX paths below ``url``; ``[""]`` when ``url`` is a single file."""
        if is_local(url):
            p = local_path(url) or "."
            if os.path.isfile(p):
                return [""]
            return _local.walk_files(p) if os.path.isdir(p) else []

        def find(fs: Any, p: str) -> list[str]:
            root = p.rstrip("/")
            found = fs.find(root) if root else []
            rels = sorted(  # keys ending in "/" are directory markers, not files
                f[len(root) + 1 :]
                for f in found
                if f.startswith(root + "/") and not f.endswith("/")
            )
            if not rels and root and fs.isfile(root):
                return [""]
            return rels

        try:
            return self._remote(op, url, find)
        except StorageNotFoundError:
            if scheme_of(url) in _remote.S3_SCHEMES:
                raise  # a missing bucket
            return []

    # --- streaming ------------------------------------------------------------------------

    def open(self, url: str, mode: str = "rb") -> IO[Any]:
        """A file object for streaming reads or writes. Local paths use the builtin ``open``
        (creating parent directories for writing); remote URLs use ``fsspec`` (opening is
        retried; reads and writes on the returned object are not)."""
        url = os.fspath(url)
        if is_local(url):
            path = local_path(url)
            with _LocalErrors("open", url, reading="r" in mode and "+" not in mode):
                if any(c in mode for c in "wax+"):
                    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                return builtins.open(path, mode)
        return self._remote("open", url, lambda fs, p: fs.open(p, mode))


# --- errors ------------------------------------------------------------------------------------


class _LocalErrors:
    """Map OSErrors of local operations: missing → StorageNotFoundError (for reads also a
    path below a regular file), denied → non-recoverable StorageError, others →
    StorageError, recoverable unless a retry cannot fix it (:func:`local.retry_can_fix`:
    ENAMETOOLONG, EINVAL, EROFS, ENOTDIR, ...)."""

    def __init__(self, op: str, url: str, *, reading: bool = False) -> None:
        self.op, self.url, self.reading = op, url, reading

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, ValueError) and "null byte" in str(exc):  # os calls reject NUL
            raise UserError(
                f"{_retry.what(self.op, repr(self.url))} failed: a path cannot hold a NUL byte",
                code="InvalidURL",
            ) from None
        if exc is None or not isinstance(exc, OSError) or isinstance(exc, StorageNotFoundError):
            return False
        if isinstance(exc, StorageError):
            return False
        if isinstance(exc, FileNotFoundError) or (
            self.reading and isinstance(exc, NotADirectoryError)
        ):
            raise StorageNotFoundError(f"no such file: {self.url}") from exc
        if isinstance(exc, PermissionError):
            raise _retry.denied_error(self.op, self.url, exc) from exc
        err = StorageError(f"{_retry.what(self.op, self.url)} failed: {_retry.describe(exc)}")
        # a path too long, a read-only or invalid location: a retry fails the same way
        err.recoverable = _local.retry_can_fix(exc)
        raise err from exc


@contextlib.contextmanager
def _progress(label: str) -> Iterator[dict[str, Any]]:
    """fsspec's ``callback=`` argument reporting a copy's bytes to the progress display that
    a command opened (:mod:`shim.progress`); no argument at all when none is open. A display
    can only be open once its module is loaded, so the container's path imports nothing."""
    progress = sys.modules.get("shim.progress")
    if progress is None or progress.current() is None:
        yield {}
        return
    from fsspec.callbacks import Callback

    class _Report(Callback):
        def set_size(self, size: int) -> None:
            self.value = 0  # a retried attempt starts over
            super().set_size(size)

        def call(self, *args: Any, **kwargs: Any) -> None:
            rep.update(self.value or 0, self.size)

    with progress.transfer(label) as rep:
        yield {"callback": _Report()}


def _interruption(exc: BaseException, futures: list[Any]) -> bool:
    """Whether ``exc`` was raised in the calling thread (a signal), not by one of ``futures``."""
    return not any(f.done() and not f.cancelled() and f.exception() is exc for f in futures)


def _check_source(op: str, path: str, src: str, dst: str) -> str:
    """``path`` if the local source ``src`` can be copied; StorageNotFoundError if it is
    missing, UserError if it is a directory."""
    if os.path.isdir(path):
        raise UserError(f"{op} to {dst}: {src} is a directory, not a file", code="NotAFile")
    if not os.path.exists(path):
        raise StorageNotFoundError(f"{op} to {dst}: no such file: {src}")
    return path


def _not_found(fs: Any, url: str, exc: BaseException) -> StorageNotFoundError:
    """A StorageNotFoundError naming the URL, or the bucket when that is what is missing."""
    if scheme_of(url) in _remote.S3_SCHEMES:
        bucket, key = split_bucket(url)
        resp = _retry._response_error(exc)
        missing_bucket = resp is not None and resp[0] == "NoSuchBucket"
        if not missing_bucket and bucket:
            try:
                fs.call_s3("head_bucket", Bucket=bucket)
            except Exception as e:
                missing_bucket = _retry.classify(e) == _retry.NOT_FOUND
        if missing_bucket:
            return StorageNotFoundError(f"bucket '{bucket}' does not exist (for {url})")
        if not key:
            return StorageNotFoundError(f"no such object: {url}")
    return StorageNotFoundError(f"no such object: {url}")
