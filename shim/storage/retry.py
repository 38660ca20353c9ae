"""Classification of storage failures and the one retry loop every remote operation runs in.

One retry layer: the clients below shimkit do not retry on their own where that can be
switched off (s3fs makes one attempt per call and botocore one per request, see
:mod:`shim.storage.remote`), so ``SHIM_STORAGE_RETRIES`` is the number of requests a failing
call makes. gcsfs and the Azure SDK (adlfs) retry every request with a policy of their own
that a filesystem cannot change; for those backends this loop makes one attempt and only
classifies what comes out (:data:`shim.storage.remote.SELF_RETRYING`).

Classification looks at the whole exception chain (``__cause__`` / ``__context__``), because
s3fs translates botocore's ``ClientError`` into builtin exceptions (``OSError(EBUSY)`` for
SlowDown, ``FileNotFoundError`` for NoSuchKey, ...) and keeps the original as the cause.
Exceptions are recognised by class name and attributes, so neither botocore, aiohttp,
requests, gcsfs nor the Azure SDK is imported here. What is read, per backend:

- s3fs/botocore: ``response["Error"]["Code"]`` and ``response["ResponseMetadata"]
  ["HTTPStatusCode"]`` of a ``ClientError``; botocore's transport errors by class;
- gcsfs: ``HttpError.code`` (the HTTP status), ``OSError("Forbidden: ...")`` for 403,
  ``ChecksumError``, and the aiohttp / requests / google-auth transport errors;
- adlfs (azure-core): ``HttpResponseError.status_code`` and ``.error_code`` (``ServerBusy``,
  ``BlobNotFound``, ``AuthorizationFailure``, ...), ``ServiceRequestError`` /
  ``ServiceResponseError`` (connection failures), ``ResourceNotFoundError``,
  ``ClientAuthenticationError``;
- fsspec's http (aiohttp): ``ClientResponseError.status``; requests-style ``HTTPError``
  through ``response.status_code``.

=========== ===========================================================================
kind        examples
=========== ===========================================================================
NOT_FOUND   NoSuchKey, NoSuchBucket, NotFound, BlobNotFound, ContainerNotFound, HTTP 404,
            ``FileNotFoundError``
DENIED      AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, ExpiredToken,
            AuthorizationFailure, AuthenticationFailed, HTTP 401 and 403,
            ``PermissionError``
TRANSIENT   HTTP 5xx, 408 and 429; SlowDown, Throttling*, RequestTimeout, InternalError,
            ServiceUnavailable, ServerBusy, OperationTimedOut, RequestLimitExceeded,
            OperationAborted; connection refused/reset/closed (``ConnectionError`` and
            botocore's EndpointConnectionError, ConnectionClosedError, ..., azure-core's
            ServiceRequestError / ServiceResponseError), timeouts (connect/read,
            ``TimeoutError``, FSTimeoutError), incomplete reads (IncompleteRead,
            ResponseStreamingError, aiohttp ClientPayloadError, requests
            ChunkedEncodingError), aiohttp ServerDisconnectedError / ClientConnectionError,
            gcsfs ChecksumError, unparsable responses
FATAL       anything else (bad arguments, missing credentials, other 4xx client errors, ...)
=========== ===========================================================================

Only TRANSIENT failures are retried. NOT_FOUND becomes :class:`StorageNotFoundError` at once,
DENIED and FATAL become a non-recoverable :class:`StorageError` at once; a TRANSIENT failure
that outlives its attempts is a recoverable :class:`StorageError` (the platform may retry).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from shim.errors import ShimError, StorageError, StorageNotFoundError

log = logging.getLogger("shim.storage")

T = TypeVar("T")

NOT_FOUND = "not_found"
DENIED = "denied"
TRANSIENT = "transient"
FATAL = "fatal"

_NOT_FOUND_CODES = frozenset(
    {
        "NoSuchKey",
        "NoSuchBucket",
        "NotFound",
        "404",
        # Azure storage
        "BlobNotFound",
        "ContainerNotFound",
        "ResourceNotFound",
        "PathNotFound",
        "FilesystemNotFound",
    }
)
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidToken",
        "ExpiredToken",
        "InvalidClientTokenId",
        "NotSignedUp",
        "RequestTimeTooSkewed",
        # Azure storage
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "AuthorizationResourceTypeMismatch",
        "InsufficientAccountPermissions",
        "AccountIsDisabled",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        "PriorRequestNotComplete",
        # Azure storage
        "ServerBusy",
        "OperationTimedOut",
        "500",
        "502",
        "503",
        "504",
        "429",
    }
)
# class names (anywhere in the MRO) of transient transport failures
_TRANSIENT_TYPES = frozenset(
    {
        # builtins
        "ConnectionError",  # ConnectionResetError, ConnectionRefusedError, BrokenPipeError, ...
        "TimeoutError",
        # botocore
        "HTTPClientError",  # EndpointConnectionError, ConnectionClosedError, ReadTimeoutError...
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ResponseStreamingError",
        "IncompleteReadError",
        "ResponseParserError",
        # aiohttp
        "ClientConnectionError",  # ServerDisconnectedError, ClientOSError, ...
        "ServerDisconnectedError",
        "ClientPayloadError",
        "ServerTimeoutError",
        # urllib3 / http.client / fsspec
        "IncompleteRead",
        "ProtocolError",
        "FSTimeoutError",
        # requests (its ConnectionError and Timeout are caught by name above and here)
        "ChunkedEncodingError",
        "Timeout",
        # azure-core: the request could not be sent / the response could not be read
        "ServiceRequestError",
        "ServiceResponseError",
        # gcsfs: the downloaded bytes did not match their checksum
        "ChecksumError",
        # google-auth: the token endpoint could not be reached
        "TransportError",
    }
)
# class names of not-found / denied failures that carry no usable status
_NOT_FOUND_TYPES = frozenset({"ResourceNotFoundError"})  # azure-core
_DENIED_TYPES = frozenset({"ClientAuthenticationError"})  # azure-core (401/403)
# classes whose integer ``code`` attribute is an HTTP status (gcsfs, urllib)
_HTTP_CODE_TYPES = frozenset({"HttpError", "HTTPError"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and len(seen) < 32:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _response_error(exc: BaseException) -> tuple[str, int] | None:
    """``(code, http_status)`` of the first botocore-style ``ClientError`` in the chain."""
    for e in _chain(exc):
        resp = getattr(e, "response", None)
        if isinstance(resp, dict) and isinstance(resp.get("Error"), dict):
            code = str(resp["Error"].get("Code", "") or "")
            meta = resp.get("ResponseMetadata") or {}
            try:
                status = int(meta.get("HTTPStatusCode") or 0)
            except (TypeError, ValueError):
                status = 0
            return code, status
    return None


def _type_names(e: BaseException) -> set[str]:
    return {c.__name__ for c in type(e).__mro__}


def _status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    if isinstance(value, str) and value.isdigit() and 100 <= int(value) <= 599:
        return int(value)
    return None


def http_status(e: BaseException) -> int | None:
    """The HTTP status an exception carries, read from its attributes: ``status`` (aiohttp
    ``ClientResponseError``, urllib), ``status_code`` (azure-core ``HttpResponseError``),
    ``response.status_code`` (requests' ``HTTPError``), ``code`` of a gcsfs ``HttpError``."""
    for value in (
        getattr(e, "status", None),
        getattr(e, "status_code", None),
        getattr(getattr(e, "response", None), "status_code", None),
    ):
        status = _status(value)
        if status is not None:
            return status
    if _type_names(e) & _HTTP_CODE_TYPES:
        return _status(getattr(e, "code", None))
    return None


def _by_status(status: int) -> str:
    if status == 404:
        return NOT_FOUND
    if status in (401, 403):
        return DENIED
    if status >= 500 or status in (408, 429):
        return TRANSIENT
    return FATAL


def classify(exc: BaseException) -> str:
    """One of ``NOT_FOUND``, ``DENIED``, ``TRANSIENT``, ``FATAL`` (see the module doc)."""
    resp = _response_error(exc)
    if resp is not None:
        code, status = resp
        if code in _NOT_FOUND_CODES or status == 404:
            return NOT_FOUND
        if code in _DENIED_CODES or status == 403:
            return DENIED
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return TRANSIENT
        return FATAL
    for e in _chain(exc):
        if isinstance(e, FileNotFoundError):
            return NOT_FOUND
        if isinstance(e, PermissionError):
            return DENIED
        if type(e) is OSError and str(e).startswith("Forbidden"):  # gcsfs's 403
            return DENIED
        error_code = getattr(e, "error_code", None)  # azure-core's service error code
        if isinstance(error_code, str) and error_code:
            if error_code in _NOT_FOUND_CODES:
                return NOT_FOUND
            if error_code in _DENIED_CODES:
                return DENIED
            if error_code in _TRANSIENT_CODES:
                return TRANSIENT
        status = http_status(e)
        if status is not None:
            return _by_status(status)
        names = _type_names(e)
        if names & _NOT_FOUND_TYPES:
            return NOT_FOUND
        if names & _DENIED_TYPES:
            return DENIED
        if names & _TRANSIENT_TYPES:
            return TRANSIENT
    return FATAL


def describe(exc: BaseException) -> str:
    """A short description of a failure's cause: ``"SlowDown (503)"``, ``"ConnectionResetError:
    [Errno 104] Connection reset by peer"``."""
    resp = _response_error(exc)
    if resp is not None:
        code, status = resp
        if not status:
            return code or "error"
        return f"{code} ({status})" if code and code != str(status) else f"HTTP {status}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    out = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(out) > 300:
        out = out[:297] + "..."
    root = list(_chain(exc))[-1]
    if type(root) is not type(exc) and type(root).__name__ not in out:
        out += f" ({type(root).__name__})"
    return out


class Cancelled(Exception):
    """A concurrent transfer was cancelled because a sibling failed."""


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` is the maximum number of attempts (the first one included); ``deadline``
    bounds the time spent sleeping between attempts (an attempt in flight is not interrupted)."""

    retries: int = 5
    backoff: float = 0.2
    max_backoff: float = 5.0
    deadline: float = 120.0
    #: the client library that retries each request itself (then ``retries`` is 1)
    retried_by: str = ""

    def sleep_for(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_backoff, backoff * 2**(attempt-1))]."""
        cap = min(self.max_backoff, self.backoff * (2 ** min(attempt - 1, 30)))
        return random.uniform(0.0, cap)


def what(op: str, url: str) -> str:
    """``"put_file to s3://b/k"``, ``"get_bytes from s3://b/k"``, ``"list of s3://b/p"``."""
    if op.startswith("put"):
        return f"{op} to {url}"
    if op.startswith("get"):
        return f"{op} from {url}"
    return f"{op} of {url}"


def denied_error(op: str, url: str, exc: BaseException) -> StorageError:
    err = StorageError(
        f"{what(op, url)} failed: permission denied: {describe(exc)}", code="AccessDenied"
    )
    err.recoverable = False
    return err


def fatal_error(op: str, url: str, exc: BaseException) -> StorageError:
    err = StorageError(f"{what(op, url)} failed: {describe(exc)}")
    err.recoverable = False
    return err


def call(
    op: str,
    url: str,
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    not_found: Callable[[BaseException], StorageNotFoundError],
    cancel: threading.Event | None = None,
) -> T:
    """Run ``fn`` until it succeeds, retrying transient failures (see :func:`classify`) with
    exponential backoff and full jitter, at most ``policy.retries`` attempts and no new attempt
    after ``policy.deadline`` seconds. Raises :class:`StorageNotFoundError` (from
    ``not_found``), or :class:`StorageError` naming the operation, the URL, the attempts and
    the last cause."""
    start = time.monotonic()
    attempt = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled(what(op, url))
        attempt += 1
        try:
            return fn()
        except (ShimError, Cancelled):  # StorageError, or e.g. TerminatedError from SIGTERM
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind == NOT_FOUND:
                raise not_found(exc) from exc
            if kind == DENIED:
                raise denied_error(op, url, exc) from exc
            if kind == FATAL:
                raise fatal_error(op, url, exc) from exc
            elapsed = time.monotonic() - start
            remaining = policy.deadline - elapsed
            if attempt >= max(1, policy.retries) or remaining <= 0:
                n = f"{attempt} attempt" + ("s" if attempt != 1 else "")
                if policy.retried_by:
                    n += f" (each request retried by {policy.retried_by})"
                raise StorageError(
                    f"{what(op, url)} failed after {n} over {elapsed:.1f}s: {describe(exc)}"
                ) from exc
            delay = min(policy.sleep_for(attempt), remaining)
            log.info(
                "%s: attempt %d failed (%s), retrying in %.2fs",
                what(op, url),
                attempt,
                describe(exc),
                delay,
            )
            if cancel is not None:
                if cancel.wait(delay):
                    raise Cancelled(what(op, url)) from exc
            else:
                time.sleep(delay)
