"""shim.storage on local paths, file:// and memory:// URLs; URL helpers; retry logic."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shim.errors import ShimError, StorageError, StorageNotFoundError, UserError
from shim.storage import (
    Storage,
    Transfer,
    default_storage,
    is_local,
    join,
    local_path,
    reset_cache,
)
from shim.storage import local as storage_local
from shim.storage import retry as storage_retry

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> dict[str, bytes]:
    files = {"a": b"1", "d/b": b"22", "d/e/c.txt": b"333", "d/e/empty": b""}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(params=["path", "file-url"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path) if request.param == "path" else f"file://{tmp_path}"


# --- URL helpers -------------------------------------------------------------------------------


def test_is_local() -> None:
    assert is_local("")
    assert is_local("/a/b")
    assert is_local("rel/path")
    assert is_local("file:///a/b")
    assert is_local(Path("/x"))
    assert not is_local("s3://b/k")
    assert not is_local("memory://x")
    assert not is_local("gs://b")


def test_local_path() -> None:
    assert local_path("file:///a/b") == "/a/b"
    assert local_path("file://localhost/a/b") == "/a/b"
    assert local_path("/a/b") == "/a/b"
    assert local_path("rel") == "rel"
    with pytest.raises(ValueError):
        local_path("s3://b/k")


def test_join() -> None:
    assert join("s3://b", "k") == "s3://b/k"
    assert join("s3://b/raw/", "/x", "y.txt") == "s3://b/raw/x/y.txt"
    assert join("s3://b/raw", "", "x/") == "s3://b/raw/x"
    assert join("memory://", "a") == "memory://a"
    assert join("/tmp/x", "y") == "/tmp/x/y"
    assert join("file:///tmp", "y") == "file:///tmp/y"
    assert join("", "a", "b") == "a/b"


# --- round trips -------------------------------------------------------------------------------


def test_bytes_round_trip(base: str, tmp_path: Path) -> None:
    s = Storage()
    url = join(base, "deep", "er", "x.bin")
    s.put_bytes(url, b"hello")
    assert (tmp_path / "deep" / "er" / "x.bin").read_bytes() == b"hello"
    assert s.get_bytes(url) == b"hello"
    s.put_bytes(url, b"bye")  # overwrite
    assert s.get_bytes(url) == b"bye"
    assert s.size(url) == 3
    assert s.exists(url)
    assert os.listdir(tmp_path / "deep" / "er") == ["x.bin"]  # no temp files left


def test_put_respects_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        Storage().put_bytes(str(tmp_path / "f"), b"1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_file_round_trip(base: str, tmp_path: Path) -> None:
    s = Storage()
    src = tmp_path / "src.bin"
    data = os.urandom(3 * (1 << 20) + 7)
    src.write_bytes(data)
    s.put_file(src, join(base, "stored", "f.bin"))
    s.get_file(join(base, "stored", "f.bin"), tmp_path / "out" / "g.bin")
    assert (tmp_path / "out" / "g.bin").read_bytes() == data


def test_dir_round_trip_and_list(base: str, tmp_path: Path) -> None:
    s = Storage(max_concurrency=3)
    files = _tree(tmp_path / "src")
    s.put_dir(tmp_path / "src", join(base, "copy"))
    assert _read_tree(tmp_path / "copy") == files
    assert s.list(join(base, "copy")) == [join(base, "copy", rel) for rel in sorted(files)]
    assert s.list(join(base, "copy", "a")) == [join(base, "copy", "a")]
    assert s.list(join(base, "missing")) == []
    s.get_dir(join(base, "copy"), tmp_path / "back")
    assert _read_tree(tmp_path / "back") == files


def test_get_dir_of_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    Storage().get_dir(str(tmp_path / "empty"), tmp_path / "out")
    assert (tmp_path / "out").is_dir()


def test_transfer_many(tmp_path: Path) -> None:
    s = Storage(max_concurrency=4)
    for i in range(20):
        (tmp_path / f"in{i}").write_bytes(b"%d" % i)
    _tree(tmp_path / "tree")
    items = [Transfer(str(tmp_path / f"in{i}"), str(tmp_path / "out" / f"o{i}")) for i in range(20)]
    items.append(Transfer(str(tmp_path / "tree"), str(tmp_path / "out" / "tree"), is_dir=True))
    s.transfer(items)
    assert (tmp_path / "out" / "o7").read_bytes() == b"7"
    assert _read_tree(tmp_path / "out" / "tree") == _read_tree(tmp_path / "tree")
    s.transfer([])


def test_transfer_failure_raises_first_error(tmp_path: Path) -> None:
    for i in range(10):
        (tmp_path / f"in{i}").write_bytes(b"x")
    items = [Transfer(str(tmp_path / f"in{i}"), str(tmp_path / "out" / f"o{i}")) for i in range(10)]
    items.insert(3, Transfer(str(tmp_path / "nope"), str(tmp_path / "out" / "nope")))
    with pytest.raises(StorageNotFoundError, match="nope"):
        Storage(max_concurrency=2).transfer(items)


def test_open_streaming(base: str, tmp_path: Path) -> None:
    s = Storage()
    url = join(base, "new", "dir", "s.txt")
    with s.open(url, "w") as f:
        f.write("a\nb\n")
    with s.open(url) as f:
        assert f.read() == b"a\nb\n"
    with s.open(url, "rt") as f:
        assert f.readlines() == ["a\n", "b\n"]


def test_delete(base: str, tmp_path: Path) -> None:
    s = Storage()
    _tree(tmp_path / "t")
    s.delete(join(base, "t", "a"))
    assert not (tmp_path / "t" / "a").exists()
    s.delete(join(base, "t"))
    assert not (tmp_path / "t").exists()
    s.delete(join(base, "t"))  # missing is fine
    assert not s.exists(join(base, "t"))


# --- atomicity ------------------------------------------------------------------------------


def test_put_file_failing_midway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"x" * 100_000)
    (tmp_path / "out").mkdir()

    def broken_copy(fsrc: Any, fdst: Any) -> None:
        fdst.write(fsrc.read(50_000))
        fdst.flush()
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(storage_local, "copy_stream", broken_copy)
    with pytest.raises(StorageError, match="Input/output error"):
        Storage().put_file(src, str(tmp_path / "out" / "dst"))
    assert os.listdir(tmp_path / "out") == []

    # an existing destination keeps its old content
    (tmp_path / "out" / "dst").write_bytes(b"old")
    with pytest.raises(StorageError):
        Storage().put_file(src, str(tmp_path / "out" / "dst"))
    assert os.listdir(tmp_path / "out") == ["dst"]
    assert (tmp_path / "out" / "dst").read_bytes() == b"old"


def test_put_file_from_unreadable_source_leaves_nothing(tmp_path: Path) -> None:
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("needs /proc")
    (tmp_path / "out").mkdir()
    with pytest.raises(StorageError):  # reading /proc/self/mem at offset 0 fails with EIO
        Storage().put_file("/proc/self/mem", str(tmp_path / "out" / "dst"))
    assert os.listdir(tmp_path / "out") == []


def test_put_bytes_failing_fsync_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_fsync)
    with pytest.raises(StorageError, match="No space left"):
        Storage().put_bytes(str(tmp_path / "f"), b"data")
    assert os.listdir(tmp_path) == []


def test_concurrent_readers_never_see_partial_files(tmp_path: Path) -> None:
    s = Storage()
    target = str(tmp_path / "f")
    payloads = [bytes([i]) * 200_000 for i in range(1, 6)]
    s.put_bytes(target, payloads[0])
    stop = threading.Event()
    seen: list[bytes] = []

    def reader() -> None:
        while not stop.is_set():
            seen.append(s.get_bytes(target))

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(5):
        for p in payloads:
            s.put_bytes(target, p)
    stop.set()
    t.join()
    assert seen and all(b in payloads for b in seen)


# --- errors ---------------------------------------------------------------------------------


def test_missing_is_not_found(base: str, tmp_path: Path) -> None:
    s = Storage()
    url = join(base, "missing")
    for call in (
        lambda: s.get_bytes(url),
        lambda: s.get_file(url, tmp_path / "x"),
        lambda: s.size(url),
        lambda: s.open(url, "rb"),
        lambda: s.put_file(local_path(url), "memory://shim-unit/x"),
        lambda: s.put_dir(local_path(url), join(base, "y")),
    ):
        with pytest.raises(StorageNotFoundError, match="missing") as ei:
            call()
        assert isinstance(ei.value, FileNotFoundError)
    assert not (tmp_path / "x").exists()
    assert not s.exists(url)


def test_paths_below_a_regular_file(tmp_path: Path) -> None:
    s = Storage()
    (tmp_path / "file").write_bytes(b"x")
    below = str(tmp_path / "file" / "child")
    s.delete(below)  # cannot exist, so deleting it is fine
    assert not s.exists(below)
    with pytest.raises(StorageNotFoundError):
        s.get_bytes(below)
    with pytest.raises(StorageNotFoundError):
        s.size(below)
    with pytest.raises(StorageError) as ei:  # writing there is impossible
        s.put_bytes(join(below, "x"), b"1")
    assert not isinstance(ei.value, StorageNotFoundError)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="is a directory, not a file"):
        Storage().put_file(tmp_path / "d", str(tmp_path / "x"))
    with pytest.raises(UserError, match="is a directory, not a file"):
        Storage().put_file(tmp_path / "d", "memory://shim-unit/x")


def test_unknown_scheme() -> None:
    with pytest.raises(UserError) as ei:
        Storage().get_bytes("xyz://b/k")
    assert ei.value.code == "UnsupportedURL"
    msg = str(ei.value)
    assert msg.startswith("unsupported URL scheme 'xyz' in 'xyz://b/k': supported are file")
    assert "shimkit[s3]" in msg


@pytest.mark.parametrize("scheme", ["gs", "abfs"])
def test_optional_cloud_schemes_say_what_to_install(scheme: str) -> None:
    pkg = {"gs": "gcsfs", "abfs": "adlfs"}[scheme]
    try:
        __import__(pkg)
    except ImportError:
        pass
    else:
        pytest.skip(f"{pkg} is installed")
    with pytest.raises(UserError, match=f"pip install {pkg}") as ei:
        Storage().get_bytes(f"{scheme}://bucket/key")
    assert ei.value.code == "UnsupportedURL"


def test_missing_s3fs(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_cache()
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs -> ImportError
    try:
        with pytest.raises(UserError, match=r"pip install 'shimkit\[s3\]'") as ei:
            Storage().get_bytes("s3://bucket/key")
        assert ei.value.code == "UnsupportedURL"
    finally:
        reset_cache()


def test_local_permission_denied(tmp_path: Path) -> None:
    """Writing where the user may not. Root ignores file modes, so as root (CI) the target is
    in sysfs, which refuses new files to root too; otherwise a read-only directory."""
    if os.geteuid() == 0:
        assert os.path.isdir("/sys/kernel"), "needs Linux sysfs to deny root"
        target = "/sys/shim-test-denied"
    else:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o500)
        target = str(tmp_path / "ro" / "f")
    try:
        with pytest.raises(StorageError) as ei:
            Storage().put_bytes(target, b"1")
    finally:
        if os.geteuid() != 0:
            (tmp_path / "ro").chmod(0o700)
    assert str(ei.value).startswith(f"put_bytes to {target} failed: permission denied")
    assert not ei.value.recoverable and ei.value.code == "AccessDenied"
    assert not os.path.exists(target)


# --- memory:// ----------------------------------------------------------------------------------


def test_memory_scheme(tmp_path: Path) -> None:
    s = Storage()
    root = "memory://shim-unit-test"
    try:
        s.put_bytes(join(root, "a", "b.txt"), b"mem")
        assert s.get_bytes(join(root, "a", "b.txt")) == b"mem"
        assert s.exists(join(root, "a", "b.txt"))
        assert s.size(join(root, "a", "b.txt")) == 3
        files = _tree(tmp_path / "src")
        s.put_dir(tmp_path / "src", join(root, "tree"))
        assert s.list(join(root, "tree")) == [join(root, "tree", r) for r in sorted(files)]
        s.get_dir(join(root, "tree"), tmp_path / "back")
        assert _read_tree(tmp_path / "back") == files
        with s.open(join(root, "w.txt"), "wb") as f:
            f.write(b"streamed")
        s.get_file(join(root, "w.txt"), tmp_path / "w.txt")
        assert (tmp_path / "w.txt").read_bytes() == b"streamed"
        with pytest.raises(StorageNotFoundError, match="no such object: memory://"):
            s.get_bytes(join(root, "nope"))
        s.delete(join(root, "tree"))
        assert s.list(join(root, "tree")) == []
        assert s.exists(join(root, "a", "b.txt"))
    finally:
        s.delete(root)
    assert s.list(root) == []


# --- no fsspec for local work --------------------------------------------------------------------


def test_local_work_does_not_import_fsspec(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from shim.storage import Storage, Transfer, default_storage, join
        s = default_storage()
        base = {str(tmp_path)!r}
        s.put_bytes(join(base, "x", "y"), b"1")
        s.get_bytes(join(base, "x", "y"))
        s.put_file(join(base, "x", "y"), "file://" + join(base, "z"))
        s.get_file("file://" + join(base, "z"), join(base, "w"))
        s.put_dir(join(base, "x"), join(base, "x2"))
        s.get_dir(join(base, "x2"), join(base, "x3"))
        s.transfer([Transfer(join(base, "w"), join(base, "v"))])
        s.list(base); s.size(join(base, "w")); s.exists(join(base, "w")); s.delete(join(base, "v"))
        with s.open(join(base, "o"), "wb") as f:
            f.write(b"o")
        heavy = [m for m in ("fsspec", "s3fs", "botocore", "aiohttp") if m in sys.modules]
        print(json.dumps(heavy))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, env=env
    )
    assert json.loads(out.stdout) == []


# --- default_storage --------------------------------------------------------------------------


def test_default_storage_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_STORAGE_RETRIES", "3")
    monkeypatch.setenv("SHIM_STORAGE_DEADLINE", "7.5")
    monkeypatch.setenv("SHIM_STORAGE_BACKOFF", "0.5")
    monkeypatch.setenv("SHIM_STORAGE_MAX_CONCURRENCY", "2")
    reset_cache()
    try:
        s = default_storage()
        assert s is default_storage()
        assert (s.policy.retries, s.policy.deadline, s.policy.backoff) == (3, 7.5, 0.5)
        assert s.max_concurrency == 2
        monkeypatch.setenv("SHIM_STORAGE_RETRIES", "many")
        reset_cache()
        with pytest.raises(UserError, match="SHIM_STORAGE_RETRIES='many'"):
            default_storage()
    finally:
        monkeypatch.delenv("SHIM_STORAGE_RETRIES")
        reset_cache()
    assert default_storage().policy.retries == 5


# --- retry classification and loop (no network) --------------------------------------------------


class FakeClientError(Exception):
    """Shaped like botocore's ClientError."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


class ServerDisconnectedError(Exception):
    """Named like aiohttp's."""


def _wrapped(inner: BaseException, outer: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (FakeClientError("SlowDown", 503), storage_retry.TRANSIENT),
        (FakeClientError("InternalError", 500), storage_retry.TRANSIENT),
        (FakeClientError("Whatever", 502), storage_retry.TRANSIENT),
        (FakeClientError("TooManyRequestsException", 429), storage_retry.TRANSIENT),
        (FakeClientError("RequestTimeout", 400), storage_retry.TRANSIENT),
        (FakeClientError("NoSuchKey", 404), storage_retry.NOT_FOUND),
        (FakeClientError("404", 404), storage_retry.NOT_FOUND),
        (FakeClientError("AccessDenied", 403), storage_retry.DENIED),
        (FakeClientError("InvalidArgument", 400), storage_retry.FATAL),
        (_wrapped(FakeClientError("SlowDown", 503), OSError(16, "busy")), storage_retry.TRANSIENT),
        (_wrapped(FakeClientError("NoSuchBucket", 404), FileNotFoundError()), "not_found"),
        (ConnectionResetError(104, "reset"), storage_retry.TRANSIENT),
        (ConnectionRefusedError(111, "refused"), storage_retry.TRANSIENT),
        (TimeoutError(), storage_retry.TRANSIENT),
        (_wrapped(ServerDisconnectedError(), RuntimeError("x")), storage_retry.TRANSIENT),
        (FileNotFoundError("x"), storage_retry.NOT_FOUND),
        (PermissionError("x"), storage_retry.DENIED),
        (ValueError("bad"), storage_retry.FATAL),
        (OSError(28, "No space left on device"), storage_retry.FATAL),
    ],
)
def test_classify(exc: BaseException, kind: str) -> None:
    assert storage_retry.classify(exc) == kind


def _policy(**kw: Any) -> storage_retry.RetryPolicy:
    return storage_retry.RetryPolicy(
        **{"retries": 5, "backoff": 0.001, "max_backoff": 0.002, "deadline": 10.0, **kw}
    )


def _flaky(failures: list[BaseException]) -> Any:
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if failures:
            raise failures.pop(0)
        return "ok"

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def _nf(exc: BaseException) -> StorageNotFoundError:
    return StorageNotFoundError("no such object: s3://b/k")


def test_retry_recovers_after_transient_failures() -> None:
    fn = _flaky([ConnectionResetError("reset"), FakeClientError("SlowDown", 503)])
    assert storage_retry.call("get_bytes", "s3://b/k", fn, _policy(), not_found=_nf) == "ok"
    assert fn.calls["n"] == 3


def test_retry_gives_up_after_attempts() -> None:
    fn = _flaky([FakeClientError("SlowDown", 503)] * 10)
    with pytest.raises(StorageError) as ei:
        storage_retry.call("put_file", "s3://b/k", fn, _policy(retries=4), not_found=_nf)
    assert fn.calls["n"] == 4
    assert str(ei.value).startswith("put_file to s3://b/k failed after 4 attempts over ")
    assert str(ei.value).endswith("s: SlowDown (503)")
    assert isinstance(ei.value.__cause__, FakeClientError)
    assert ei.value.recoverable


def test_retry_gives_up_at_deadline() -> None:
    fn = _flaky([TimeoutError("slow")] * 10_000)
    t0 = time.monotonic()
    with pytest.raises(StorageError, match=r"get_bytes from s3://b/k failed after \d+ attempts"):
        storage_retry.call(
            "get_bytes",
            "s3://b/k",
            fn,
            _policy(retries=10_000, backoff=0.05, max_backoff=0.05, deadline=0.3),
            not_found=_nf,
        )
    assert 0.25 < time.monotonic() - t0 < 1.5
    assert fn.calls["n"] > 2


def test_backoff_is_exponential_with_full_jitter() -> None:
    p = storage_retry.RetryPolicy(retries=5, backoff=0.2, max_backoff=1.0, deadline=10)
    for attempt, cap in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (20, 1.0)]:
        samples = [p.sleep_for(attempt) for _ in range(200)]
        assert all(0 <= x <= cap for x in samples)
        assert max(samples) > cap * 0.7


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (FakeClientError("NoSuchKey", 404), StorageNotFoundError),
        (FakeClientError("AccessDenied", 403), StorageError),
        (ValueError("bad"), StorageError),
    ],
)
def test_non_transient_failures_are_not_retried(exc: BaseException, expected: type) -> None:
    fn = _flaky([exc, exc])
    with pytest.raises(expected) as ei:
        storage_retry.call("get_bytes", "s3://b/k", fn, _policy(), not_found=_nf)
    assert fn.calls["n"] == 1
    assert isinstance(ei.value, ShimError)
    if expected is StorageError:
        assert not ei.value.recoverable


def test_only_durable_local_writes_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local run stages its template and inputs without fsync (read right away, here; two
    fsyncs each were most of a nested call's cost on a busy disk); its outputs stay durable."""
    import shim
    import shim.storage.local as local_mod
    from shim.storage import default_storage
    from tests.support import fn_tasks as fn

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(local_mod.os, "fsync", lambda fd: synced.append(fd) or real(fd))
    target = tmp_path / "x" / "quick.bin"
    default_storage().put_bytes(str(target), b"abc", durable=False)
    assert target.read_bytes() == b"abc" and synced == []
    assert [p.name for p in target.parent.iterdir()] == ["quick.bin"]  # no temporary left
    default_storage().put_bytes(str(target), b"abcd")
    assert target.read_bytes() == b"abcd" and len(synced) == 2  # the file and its directory

    synced.clear()
    assert shim.with_runcontext(store=str(tmp_path / "runs")).run(fn.add, a=1, b=2) == 3
    assert len(synced) == 2  # outputs.pb and its directory; not task.pb, not inputs.pb
