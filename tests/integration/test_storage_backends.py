"""One retry layer, classified for every backend fsspec ships (issue 9, item 15).

- fsspec's http backend (aiohttp) runs for real against a loopback server that answers with
  chosen statuses: shimkit's attempts are the requests the server sees.
- gcsfs and adlfs are not dev dependencies (with google-cloud-storage, grpc and the Azure SDK
  they would add ~120 MB), so their exceptions are built here by duck typing: classes of the
  same names and modules with the attributes those libraries set (gcsfs ``HttpError.code``,
  azure-core ``HttpResponseError.status_code`` / ``.error_code``), exactly what the
  classifier reads. They were checked against gcsfs 2026.10.1 and azure-core 1.41.0.
- The gs:// and abfs:// single-attempt policy is exercised through a stand-in fsspec
  filesystem registered under those schemes, raising those exceptions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shim.errors import StorageError, StorageNotFoundError
from shim.storage import Storage, reset_cache
from shim.storage import retry as storage_retry


def _mimic(module: str, name: str, base: type = Exception, **attrs: Any) -> type:
    return type(name, (base,), {"__module__": module, **attrs})


# --- gcsfs (gcsfs/retry.py): HttpError carries the HTTP status as ``code`` ----------------------


class GcsHttpError(Exception):
    def __init__(self, code: int, message: str = "") -> None:
        self.code, self.message = code, f"{message}, {code}"
        super().__init__(self.message)


GcsHttpError.__name__ = GcsHttpError.__qualname__ = "HttpError"
GcsHttpError.__module__ = "gcsfs.retry"
GcsChecksumError = _mimic("gcsfs.retry", "ChecksumError")

# --- azure-core (azure/core/exceptions.py), what adlfs raises -------------------------------------

AzureError = _mimic("azure.core.exceptions", "AzureError")
ServiceRequestError = _mimic("azure.core.exceptions", "ServiceRequestError", AzureError)
ServiceResponseError = _mimic("azure.core.exceptions", "ServiceResponseError", AzureError)
ServiceResponseTimeoutError = _mimic(
    "azure.core.exceptions", "ServiceResponseTimeoutError", ServiceResponseError
)


class HttpResponseError(AzureError):  # type: ignore[misc, valid-type]
    def __init__(self, message: str = "", status_code: int | None = None, error_code=None):
        super().__init__(message)
        self.status_code, self.error_code, self.response = status_code, error_code, None


HttpResponseError.__module__ = "azure.core.exceptions"
ResourceNotFoundError = _mimic("azure.core.exceptions", "ResourceNotFoundError", HttpResponseError)
ClientAuthenticationError = _mimic(
    "azure.core.exceptions", "ClientAuthenticationError", HttpResponseError
)

T, N, D, F = (
    storage_retry.TRANSIENT,
    storage_retry.NOT_FOUND,
    storage_retry.DENIED,
    storage_retry.FATAL,
)


def _chained(inner: BaseException, outer: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        # gcsfs
        (GcsHttpError(503, "Service Unavailable"), T),
        (GcsHttpError(500), T),
        (GcsHttpError(429, "rate"), T),
        (GcsHttpError(408, "timeout"), T),
        (GcsHttpError(401, "Invalid Credentials"), D),
        (GcsHttpError(404), N),
        (GcsHttpError(400, "bad"), F),
        (OSError("Forbidden: bucket/key\nno access"), D),
        (GcsChecksumError("md5 mismatch"), T),
        (_chained(GcsHttpError(502), RuntimeError("while reading")), T),
        # adlfs / azure-core
        (HttpResponseError("busy", 503, "ServerBusy"), T),
        (HttpResponseError("x", 500, "InternalError"), T),
        (HttpResponseError("x", 500, "OperationTimedOut"), T),
        (HttpResponseError("slow", 429), T),
        (HttpResponseError("x", 403, "AuthorizationFailure"), D),
        (HttpResponseError("x", 403, "AuthorizationPermissionMismatch"), D),
        (HttpResponseError("x", 404, "BlobNotFound"), N),
        (HttpResponseError("x", 404, "ContainerNotFound"), N),
        (HttpResponseError("x", 400, "InvalidHeaderValue"), F),
        (HttpResponseError("no status"), F),
        (ResourceNotFoundError("gone"), N),
        (ClientAuthenticationError("who"), D),
        (ServiceRequestError("cannot connect"), T),
        (ServiceResponseError("connection broken"), T),
        (ServiceResponseTimeoutError("read timed out"), T),
    ],
)
def test_classify_gcsfs_and_adlfs_errors(exc: BaseException, kind: str) -> None:
    assert storage_retry.classify(exc) == kind


def test_classify_aiohttp_and_requests_errors() -> None:
    """fsspec's http backend (aiohttp) and gcsfs's sync paths (requests): the real classes."""
    import aiohttp
    import requests

    def aio(status: int) -> BaseException:
        return aiohttp.ClientResponseError(None, (), status=status, message="x")  # type: ignore[arg-type]

    def req(status: int) -> BaseException:
        response = requests.Response()
        response.status_code = status
        return requests.HTTPError("x", response=response)

    assert [storage_retry.classify(aio(s)) for s in (503, 429, 404, 403, 400)] == [T, T, N, D, F]
    assert [storage_retry.classify(req(s)) for s in (502, 408, 404, 401, 418)] == [T, T, N, D, F]
    assert storage_retry.classify(aiohttp.ServerDisconnectedError()) == T
    assert storage_retry.classify(aiohttp.ClientPayloadError("cut")) == T
    assert storage_retry.classify(requests.ConnectionError("refused")) == T
    assert storage_retry.classify(requests.exceptions.ChunkedEncodingError("cut")) == T
    assert storage_retry.classify(requests.exceptions.ReadTimeout("slow")) == T
    assert storage_retry.classify(requests.exceptions.InvalidURL("x")) == F


def test_the_classifier_imports_none_of_the_clients() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from shim.storage import retry, Storage\n"
        "retry.classify(OSError('x')); Storage().exists('/nonexistent')\n"
        "print(sorted(m for m in ('botocore','aiohttp','requests','gcsfs','adlfs','azure',"
        "'s3fs','fsspec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- gs:// and abfs://: the client retries, shimkit makes one attempt -------------------------


class _StandIn:
    """Counts calls and raises ``exc`` from every read (a stand-in for gcsfs / adlfs)."""

    calls = 0
    exc: BaseException = RuntimeError("unset")


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_StandIn]]:
    from fsspec import AbstractFileSystem
    from fsspec.registry import _registry  # what fsspec.register_implementation fills

    state = type("State", (_StandIn,), {})

    class StandInFS(AbstractFileSystem):
        protocol = ("gs", "gcs", "abfs", "az")
        cachable = False

        def cat_file(self, path: str, start: Any = None, end: Any = None, **kw: Any) -> bytes:
            state.calls += 1
            raise state.exc

    for scheme in StandInFS.protocol:
        monkeypatch.setitem(_registry, scheme, StandInFS)
    reset_cache()
    yield state
    reset_cache()


@pytest.mark.parametrize(
    ("url", "exc", "client"),
    [
        ("gs://b/k", GcsHttpError(503, "Service Unavailable"), "gcsfs"),
        ("gcs://b/k", GcsChecksumError("md5"), "gcsfs"),
        ("abfs://c/k", HttpResponseError("busy", 503, "ServerBusy"), "adlfs/azure-core"),
        ("az://c/k", ServiceResponseError("broken"), "adlfs/azure-core"),
    ],
)
def test_self_retrying_clients_get_one_attempt_and_a_recoverable_error(
    stand_in: type[_StandIn], url: str, exc: BaseException, client: str
) -> None:
    stand_in.exc = exc
    with pytest.raises(StorageError) as ei:
        Storage(retries=5, backoff=0.001, max_backoff=0.002).get_bytes(url)
    assert stand_in.calls == 1  # gcsfs / azure-core already retried each request
    assert ei.value.recoverable and ei.value.origin == "SYSTEM"  # before: fatal, never retried
    assert f"failed after 1 attempt (each request retried by {client})" in str(ei.value)


def test_self_retrying_clients_denied_and_missing(stand_in: type[_StandIn]) -> None:
    s = Storage(retries=5, backoff=0.001, max_backoff=0.002)
    stand_in.exc = HttpResponseError("x", 403, "AuthorizationFailure")
    with pytest.raises(StorageError, match="permission denied") as ei:
        s.get_bytes("abfs://c/k")
    assert not ei.value.recoverable
    stand_in.exc = ResourceNotFoundError("The specified blob does not exist.")
    with pytest.raises(StorageNotFoundError):
        s.get_bytes("abfs://c/k")


# --- http(s)://: fsspec's HTTPFileSystem for real, shimkit's attempts ---------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    status = 200
    requests = 0


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: Any = self.server
        server.requests += 1
        body = b"payload" if server.status == 200 else b"error"
        self.send_response(server.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    reset_cache()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        reset_cache()


@pytest.mark.parametrize("status", [503, 500, 429, 408])
def test_http_transient_status_is_retried_by_shimkit_alone(
    http_server: _Server, status: int
) -> None:
    url = f"http://127.0.0.1:{http_server.server_address[1]}/data"
    http_server.status = status
    with pytest.raises(StorageError, match=f"get_bytes from {url} failed after 3 attempts") as e:
        Storage(retries=3, backoff=0.001, max_backoff=0.002).get_bytes(url)
    assert e.value.recoverable  # before: FATAL (aiohttp's ClientResponseError was not read)
    assert http_server.requests == 3


def test_http_ok_denied_and_missing(http_server: _Server) -> None:
    url = f"http://127.0.0.1:{http_server.server_address[1]}/data"
    s = Storage(retries=3, backoff=0.001, max_backoff=0.002)
    assert s.get_bytes(url) == b"payload"
    http_server.status = 403
    with pytest.raises(StorageError, match="permission denied") as ei:
        s.get_bytes(url)
    assert not ei.value.recoverable
    http_server.status = 404
    with pytest.raises(StorageNotFoundError):
        s.get_bytes(url)
    http_server.status = 400
    before = http_server.requests
    with pytest.raises(StorageError) as ei:
        s.get_bytes(url)
    assert not ei.value.recoverable and http_server.requests == before + 1
