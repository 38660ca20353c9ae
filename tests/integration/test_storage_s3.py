"""shim.storage against S3 over real HTTP (moto server on loopback), with injected faults."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shim.errors import StorageError, StorageNotFoundError
from shim.storage import Storage, Transfer, default_storage, join, reset_cache, s3_options
from shim.storage import remote as storage_remote
from tests.fixtures.faulty_proxy import FaultyProxy

MiB = 1 << 20


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "sub/b.bin": os.urandom(1000),
        "sub/deeper/c.txt": b"",
        "sub/deeper/d e.txt": b"space in name",
        "z/last": b"z" * 10,
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


# --- happy paths ---------------------------------------------------------------------------


def test_bytes_round_trip(s3_bucket: str, s3_client: Any) -> None:
    s = Storage()
    url = join(s3_bucket, "dir", "x.bin")
    s.put_bytes(url, b"hello")
    assert s.get_bytes(url) == b"hello"
    bucket = s3_bucket.removeprefix("s3://")
    assert s3_client.get_object(Bucket=bucket, Key="dir/x.bin")["Body"].read() == b"hello"
    s.put_bytes(url, b"")
    assert s.get_bytes(url) == b""
    assert s.size(url) == 0


def test_file_round_trip_multipart(s3_bucket: str, tmp_path: Path) -> None:
    s = Storage()
    src = tmp_path / "big.bin"
    data = os.urandom(12 * MiB + 123)  # above s3fs's 5 MiB part size: a multipart upload
    src.write_bytes(data)
    url = join(s3_bucket, "big.bin")
    s.put_file(src, url)
    assert s.size(url) == len(data)
    dst = tmp_path / "out" / "deep" / "big.bin"
    s.get_file(url, dst)
    assert dst.read_bytes() == data
    assert sorted(os.listdir(dst.parent)) == ["big.bin"]  # no temp files left


def test_dir_round_trip(s3_bucket: str, tmp_path: Path) -> None:
    s = Storage(max_concurrency=4)
    files = _tree(tmp_path / "src")
    prefix = join(s3_bucket, "trees", "t1")
    s.put_dir(tmp_path / "src", prefix)
    assert s.list(prefix) == sorted(join(prefix, rel) for rel in files)
    s.get_dir(prefix, tmp_path / "dst")
    got = {
        p.relative_to(tmp_path / "dst").as_posix(): p.read_bytes()
        for p in (tmp_path / "dst").rglob("*")
        if p.is_file()
    }
    assert got == files


def test_list_exists_delete_size(s3_bucket: str) -> None:
    s = Storage()
    for rel in ["p/a", "p/b/c", "p2/x", "q"]:
        s.put_bytes(join(s3_bucket, rel), rel.encode())
    assert s.list(join(s3_bucket, "p")) == [join(s3_bucket, "p/a"), join(s3_bucket, "p/b/c")]
    assert s.list(join(s3_bucket, "p/")) == [join(s3_bucket, "p/a"), join(s3_bucket, "p/b/c")]
    assert s.list(join(s3_bucket, "q")) == [join(s3_bucket, "q")]
    assert s.list(join(s3_bucket, "nothing")) == []
    assert s.list(s3_bucket) == [join(s3_bucket, r) for r in ["p/a", "p/b/c", "p2/x", "q"]]
    assert s.exists(join(s3_bucket, "p/a"))
    assert not s.exists(join(s3_bucket, "p/zz"))
    assert s.size(join(s3_bucket, "p/b/c")) == 5

    s.delete(join(s3_bucket, "p"))  # a prefix, recursively; p2 is not below p
    assert s.list(s3_bucket) == [join(s3_bucket, "p2/x"), join(s3_bucket, "q")]
    s.delete(join(s3_bucket, "q"))
    s.delete(join(s3_bucket, "q"))  # missing is fine
    s.delete(join(s3_bucket, "never/was"))
    assert s.list(s3_bucket) == [join(s3_bucket, "p2/x")]
    s.delete(s3_bucket)  # empties the bucket but keeps it
    assert s.list(s3_bucket) == []
    s.put_bytes(join(s3_bucket, "again"), b"1")


def test_open_streaming(s3_bucket: str) -> None:
    s = Storage()
    url = join(s3_bucket, "stream.txt")
    with s.open(url, "wb") as f:
        for i in range(1000):
            f.write(b"line %d\n" % i)
    with s.open(url, "rb") as f:
        assert f.readline() == b"line 0\n"
    with s.open(url, "rt") as f:
        assert len(f.readlines()) == 1000
    with pytest.raises(StorageNotFoundError):
        s.open(join(s3_bucket, "nope"), "rb")


def test_transfer_mixed(s3_bucket: str, tmp_path: Path) -> None:
    s = Storage(max_concurrency=3)
    _tree(tmp_path / "tree")
    for i in range(5):
        (tmp_path / f"f{i}").write_bytes(b"%d" % i)
    items = [Transfer(str(tmp_path / f"f{i}"), join(s3_bucket, "t", f"f{i}")) for i in range(5)]
    items.append(Transfer(str(tmp_path / "tree"), join(s3_bucket, "t", "tree"), is_dir=True))
    s.transfer(items)
    assert len(s.list(join(s3_bucket, "t"))) == 10
    s.transfer([Transfer(join(s3_bucket, "t", "f3"), str(tmp_path / "back" / "f3"))])
    assert (tmp_path / "back" / "f3").read_bytes() == b"3"
    # remote -> remote copy
    s.transfer([Transfer(join(s3_bucket, "t", "f1"), join(s3_bucket, "copy", "f1"))])
    assert s.get_bytes(join(s3_bucket, "copy", "f1")) == b"1"


def test_memory_to_s3_copy(s3_bucket: str) -> None:
    s = Storage()
    s.put_bytes("memory://shim-s3-test/x", b"mem")
    s.transfer([Transfer("memory://shim-s3-test/x", join(s3_bucket, "from-mem"))])
    assert s.get_bytes(join(s3_bucket, "from-mem")) == b"mem"
    s.delete("memory://shim-s3-test")


# --- not found ----------------------------------------------------------------------------


def test_missing_key(s3_bucket: str, tmp_path: Path) -> None:
    s = Storage()
    url = join(s3_bucket, "missing", "key")
    t0 = time.monotonic()
    for call in (
        lambda: s.get_bytes(url),
        lambda: s.get_file(url, tmp_path / "x"),
        lambda: s.size(url),
    ):
        with pytest.raises(StorageNotFoundError, match="no such object: " + url):
            call()
    assert time.monotonic() - t0 < 5  # not retried
    assert not (tmp_path / "x").exists()
    assert os.listdir(tmp_path) == []
    assert not s.exists(url)


def test_missing_bucket(s3_env: dict[str, str], tmp_path: Path) -> None:
    s = Storage()
    url = "s3://shim-no-such-bucket-xyz/k"
    with pytest.raises(StorageNotFoundError, match="bucket 'shim-no-such-bucket-xyz'"):
        s.get_bytes(url)
    with pytest.raises(StorageNotFoundError, match="bucket 'shim-no-such-bucket-xyz'"):
        s.size(url)
    with pytest.raises(StorageNotFoundError, match="bucket 'shim-no-such-bucket-xyz'"):
        s.put_bytes(url, b"1")
    (tmp_path / "f").write_bytes(b"1")
    with pytest.raises(StorageNotFoundError, match="bucket 'shim-no-such-bucket-xyz'"):
        s.put_file(tmp_path / "f", url)
    with pytest.raises(StorageNotFoundError, match="shim-no-such-bucket-xyz"):
        s.get_dir("s3://shim-no-such-bucket-xyz/prefix", tmp_path / "d")
    assert not s.exists(url)


def test_missing_local_source(s3_bucket: str, tmp_path: Path) -> None:
    with pytest.raises(StorageNotFoundError, match="no such file"):
        Storage().put_file(tmp_path / "nope", join(s3_bucket, "k"))
    with pytest.raises(StorageNotFoundError, match="no such directory"):
        Storage().put_dir(tmp_path / "nope", join(s3_bucket, "k"))


# --- configuration ----------------------------------------------------------------------------


def test_env_precedence_unit() -> None:
    env = {
        "FLYTE_AWS_ENDPOINT": "http://flyte:9000",
        "AWS_ENDPOINT_URL": "http://aws:1",
        "AWS_ENDPOINT_URL_S3": "http://aws-s3:2",
        "FLYTE_AWS_ACCESS_KEY_ID": "fk",
        "FLYTE_AWS_SECRET_ACCESS_KEY": "fs",
        "AWS_ACCESS_KEY_ID": "ak",
        "AWS_SECRET_ACCESS_KEY": "as",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "us-west-2",
    }
    o = s3_options(env)
    assert o["endpoint_url"] == "http://flyte:9000"
    assert (o["key"], o["secret"]) == ("fk", "fs")
    assert o["client_kwargs"]["region_name"] == "eu-west-1"
    assert o["config_kwargs"]["retries"] == {"total_max_attempts": 1}

    del env["FLYTE_AWS_ENDPOINT"], env["FLYTE_AWS_ACCESS_KEY_ID"]
    del env["FLYTE_AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"]
    o = s3_options(env)
    assert o["endpoint_url"] == "http://aws-s3:2"
    assert "key" not in o and "secret" not in o  # botocore's own chain reads AWS_*
    assert o["client_kwargs"]["region_name"] == "us-west-2"
    del env["AWS_ENDPOINT_URL_S3"]
    assert s3_options(env)["endpoint_url"] == "http://aws:1"
    assert "endpoint_url" not in s3_options({})


def test_env_half_configured_credentials() -> None:
    from shim.errors import UserError

    with pytest.raises(UserError, match="FLYTE_AWS_SECRET_ACCESS_KEY is not"):
        s3_options({"FLYTE_AWS_ACCESS_KEY_ID": "k"})


def test_flyte_env_wins_over_aws_env(
    s3_bucket: str, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the AWS_* endpoint and keys are wrong; FLYTE_* ones are right and must win
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    reset_cache()
    s = Storage(retries=1)
    s.put_bytes(join(s3_bucket, "k"), b"v")
    fs, _ = storage_remote.filesystem(s3_bucket)
    assert fs.endpoint_url == moto_server
    assert fs.key == "testing"


def test_aws_env_alone(s3_bucket: str, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLYTE_AWS_ENDPOINT", "FLYTE_AWS_ACCESS_KEY_ID", "FLYTE_AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset_cache()
    s = default_storage()
    s.put_bytes(join(s3_bucket, "k"), b"v")
    assert s.get_bytes(join(s3_bucket, "k")) == b"v"


# --- retries --------------------------------------------------------------------------------


def _fast(retries: int = 6, deadline: float = 10.0) -> Storage:
    return Storage(retries=retries, backoff=0.01, max_backoff=0.05, deadline=deadline)


@pytest.mark.parametrize("kind", ["503", "500", "429", "close", "reset"])
def test_transient_faults_are_retried(
    kind: str, s3_bucket: str, faulty_proxy: FaultyProxy, tmp_path: Path
) -> None:
    s = _fast()
    url = join(s3_bucket, "r", "x")
    faulty_proxy.fail_next(2, kind)
    s.put_bytes(url, b"payload")
    faulty_proxy.fail_next(2, kind)
    assert s.get_bytes(url) == b"payload"
    src = tmp_path / "f"
    src.write_bytes(b"file")
    faulty_proxy.fail_next(2, kind)
    s.put_file(src, join(s3_bucket, "r", "f"))
    faulty_proxy.fail_next(2, kind)
    s.get_file(join(s3_bucket, "r", "f"), tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == b"file"
    assert faulty_proxy.faults == 8


def test_transfer_succeeds_after_faults(
    s3_bucket: str, faulty_proxy: FaultyProxy, tmp_path: Path
) -> None:
    files = _tree(tmp_path / "src")
    s = _fast(retries=10)
    faulty_proxy.fail_next(4, "503", methods=("PUT",))
    faulty_proxy.fail_next(2, "close", methods=("PUT",))
    s.put_dir(tmp_path / "src", join(s3_bucket, "tree"))
    assert faulty_proxy.faults == 6
    faulty_proxy.fail_next(3, "500", methods=("GET",))
    s.get_dir(join(s3_bucket, "tree"), tmp_path / "dst")
    assert faulty_proxy.faults == 9
    for rel, data in files.items():
        assert (tmp_path / "dst" / rel).read_bytes() == data


def test_multipart_upload_with_faults(
    s3_bucket: str, faulty_proxy: FaultyProxy, tmp_path: Path
) -> None:
    data = os.urandom(11 * MiB)
    (tmp_path / "big").write_bytes(data)
    faulty_proxy.fail_next(3, "503", methods=("PUT",))  # hits the part uploads
    s = _fast()
    s.put_file(tmp_path / "big", join(s3_bucket, "big"))
    faulty_proxy.fail_next(2, "reset", methods=("GET",))
    s.get_file(join(s3_bucket, "big"), tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


def test_persistent_fault_gives_up_by_attempts(s3_bucket: str, faulty_proxy: FaultyProxy) -> None:
    faulty_proxy.fail_always("503")
    s = _fast(retries=3)
    url = join(s3_bucket, "k")
    with pytest.raises(StorageError) as ei:
        s.put_bytes(url, b"x")
    msg = str(ei.value)
    assert msg.startswith(f"put_bytes to {url} failed after 3 attempts over ")
    assert msg.endswith("SlowDown (503)")
    assert ei.value.recoverable and ei.value.origin == "SYSTEM"
    assert not isinstance(ei.value, StorageNotFoundError)


def test_persistent_fault_gives_up_by_deadline(
    s3_bucket: str, faulty_proxy: FaultyProxy, tmp_path: Path
) -> None:
    faulty_proxy.fail_always("close")
    s = Storage(retries=1000, backoff=0.05, max_backoff=0.2, deadline=1.5)
    (tmp_path / "f").write_bytes(b"1")
    url = join(s3_bucket, "k")
    t0 = time.monotonic()
    with pytest.raises(StorageError, match=f"put_file to {url} failed after \\d+ attempts"):
        s.put_file(tmp_path / "f", url)
    assert time.monotonic() - t0 < 6


def test_transfer_first_failure_cancels_rest(
    s3_bucket: str, faulty_proxy: FaultyProxy, tmp_path: Path
) -> None:
    for i in range(40):
        (tmp_path / f"f{i:02d}").write_bytes(b"x")
    faulty_proxy.fail_always("500", methods=("PUT",))
    s = Storage(retries=3, backoff=0.01, max_backoff=0.02, deadline=5, max_concurrency=2)
    items = [Transfer(str(tmp_path / f"f{i:02d}"), join(s3_bucket, f"f{i:02d}")) for i in range(40)]
    with pytest.raises(StorageError, match="InternalError \\(500\\)"):
        s.transfer(items)
    # two workers: the first failure stops the others long before 40 * 3 requests
    assert faulty_proxy.requests < 20


def test_access_denied_not_retried(s3_bucket: str, faulty_proxy: FaultyProxy) -> None:
    faulty_proxy.fail_always("403")
    s = _fast()
    with pytest.raises(StorageError, match="permission denied") as ei:
        s.get_bytes(join(s3_bucket, "k"))
    assert not ei.value.recoverable
    assert ei.value.code == "AccessDenied"
    assert faulty_proxy.requests == 1  # one attempt: neither s3fs nor botocore re-tries


# --- one retry layer: requests per failing call == shimkit's attempts (issue 9, item 15) ------


def _single_request_calls(s: Storage, url: str, tmp_path: Path) -> dict[str, Callable[[], Any]]:
    src = tmp_path / "small"
    src.write_bytes(b"small file")
    return {
        "put_bytes": lambda: s.put_bytes(url, b"x"),
        "get_bytes": lambda: s.get_bytes(url),
        "put_file": lambda: s.put_file(src, url),
        "get_file": lambda: s.get_file(url, tmp_path / "back"),
        "size": lambda: s.size(url),
    }


@pytest.mark.parametrize("kind", ["503", "500", "429"])
@pytest.mark.parametrize("op", ["put_bytes", "get_bytes", "put_file", "get_file", "size"])
def test_a_failing_call_sends_exactly_the_configured_attempts(
    op: str, kind: str, s3_bucket: str, faulty_proxy: FaultyProxy, tmp_path: Path
) -> None:
    """Neither s3fs nor botocore retries inside shimkit's attempts: 4 attempts, 4 requests
    (s3fs's own re-try used to double that)."""
    s = _fast(retries=4)
    url = join(s3_bucket, "one-layer", "k")
    s.put_bytes(url, b"x")  # so that reads fail only by the injected fault
    call = _single_request_calls(s, url, tmp_path)[op]
    faulty_proxy.fail_always(kind)
    before = faulty_proxy.requests
    with pytest.raises(StorageError, match=f"{op} (to|from|of) .* failed after 4 attempts"):
        call()
    assert faulty_proxy.requests - before == 4


@pytest.mark.parametrize("kind", ["close", "reset"])
@pytest.mark.parametrize("op", ["put_bytes", "get_bytes", "size"])
def test_a_dropped_connection_is_resent_once_by_aiohttp_only(
    op: str, kind: str, s3_bucket: str, faulty_proxy: FaultyProxy, tmp_path: Path
) -> None:
    """A connection dropped without a response: aiohttp re-sends an idempotent request once
    when the dropped connection was a reused keep-alive one (what it does for an idle
    connection the server closed; not switchable through aiohttp's public API), never on a
    fresh one. So 4 attempts make at most 8 requests (s3fs's re-try used to make 16)."""
    s = _fast(retries=4)
    url = join(s3_bucket, "one-layer", "k")
    s.put_bytes(url, b"x")
    call = _single_request_calls(s, url, tmp_path)[op]
    faulty_proxy.fail_always(kind)
    before = faulty_proxy.requests
    with pytest.raises(StorageError, match="failed after 4 attempts"):
        call()
    assert 4 <= faulty_proxy.requests - before <= 8
