"""URL helpers: which URLs are local, how to turn them into paths, how to join them.

Nothing here imports fsspec; these helpers are safe on the lean entrypoint path.
"""

from __future__ import annotations

import os
import re

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def scheme_of(url: str) -> str:
    """The lower-case scheme of ``url`` (``"s3"`` for ``s3://b/k``), ``"file"`` for plain paths."""
    url = os.fspath(url)
    if url.startswith("file:"):
        return "file"
    m = _SCHEME_RE.match(url)
    return m.group(1).lower() if m else "file"


def is_local(url: str | os.PathLike[str]) -> bool:
    """True for ``""``, a plain path (absolute or relative) or a ``file:`` URL."""
    return scheme_of(os.fspath(url)) == "file"


def local_path(url: str | os.PathLike[str]) -> str:
    """The filesystem path of a local URL: ``file:///x/y`` and ``file://localhost/x/y`` give
    ``/x/y``; a plain path is returned unchanged. Raises ``ValueError`` for a remote URL.

    Paths are not percent-decoded: shimkit and Flyte write ``file://`` URLs with raw paths.
    """
    url = os.fspath(url)
    if not is_local(url):
        raise ValueError(f"not a local path or file:// URL: {url!r}")
    if not url.startswith("file:"):
        return url
    rest = url[len("file:") :]
    if rest.startswith("//"):
        rest = rest[2:]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        # "file://x/y" has a host part "x" we cannot honour; treat it as a relative path
    return rest


def join(base: str, *parts: str) -> str:
    """Join URL or path components with ``/``.

    Unlike :func:`os.path.join`, a part that starts with ``/`` does not restart the path:
    ``join("s3://b/raw/", "/x", "y.txt") == "s3://b/raw/x/y.txt"``. Empty parts are skipped.
    ``join("memory://", "a") == "memory://a"``.
    """
    out = os.fspath(base)
    for part in parts:
        part = os.fspath(part).strip("/")
        if not part:
            continue
        if not out:
            out = part
        elif out.endswith("://") or out.endswith("/"):
            out = out + part
        else:
            out = out + "/" + part
    return out


def split_bucket(url: str) -> tuple[str, str]:
    """``("b", "k/x")`` for ``"s3://b/k/x"`` (any scheme with a bucket-like first component)."""
    m = _SCHEME_RE.match(url)
    rest = url[m.end() :] if m else url
    bucket, _, key = rest.partition("/")
    return bucket, key
