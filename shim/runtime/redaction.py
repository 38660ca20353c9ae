"""Secrets never leave in what the runtime prints or writes: every form of every secret this
process could have read is replaced with ``[redacted]`` (imported on the failure path only)."""

from __future__ import annotations

import os

from shim import envconf

REDACTED = "[redacted]"
_MIN_SECRET_LEN = 4  # shorter values ("1", "true") would blank out ordinary text
_MAX_SECRET_FILES = 256
_MAX_SECRET_BYTES = 1 << 16
#: what marks a cut: the tail's ``...``, ``short_repr``'s ``...``, an ellipsis
_CUT_MARKS = ("...", "\u2026")


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Every secret this process could have read (WIRE.md section 5): the values of the
    ``_FSEC_*`` environment variables and of the files of the secrets directory (two levels,
    ``<dir>/<group>/<key>``, bounded). Values shorter than 4 characters are left out. Only
    called on the failure path."""
    env = os.environ if environ is None else environ
    prefix = (envconf.text("FLYTE_SECRETS_ENV_PREFIX", environ=env) or "_FSEC_").upper()
    values = {v for k, v in env.items() if k.upper().startswith(prefix)}
    base = envconf.text("FLYTE_SECRETS_DEFAULT_DIR", environ=env) or "/etc/secrets"
    seen = 0
    try:
        entries = list(os.scandir(base))
    except OSError:
        entries = []
    stack = [(e, 1) for e in entries]
    while stack and seen < _MAX_SECRET_FILES:
        entry, depth = stack.pop()
        try:
            if entry.is_dir() and depth < 2:
                stack.extend((e, depth + 1) for e in os.scandir(entry.path))
            elif entry.is_file() and entry.stat().st_size <= _MAX_SECRET_BYTES:
                seen += 1
                with open(entry.path, "rb") as f:
                    values.add(f.read().decode("utf-8", "replace"))
        except OSError:
            continue
    return sorted((v for v in values if len(v.strip()) >= _MIN_SECRET_LEN), key=len, reverse=True)


def secret_forms(value: str) -> set[str]:
    """Every form in which ``value`` (or a piece of it) can show up in a text.

    The value, stripped; each line of a multi-line value (stripped: a traceback indents it,
    a log prefixes it); and of each of those its ``repr()`` body (``\\n``, ``\\'``, ``\\x..``
    escaped), its JSON body (ASCII and not), its ``bytes`` ``repr()`` body and its URL
    encoding (``quote`` and ``quote_plus``). Pieces shorter than 4 characters are not
    forms: they would blank out ordinary text.
    """
    import json
    from urllib.parse import quote, quote_plus

    pieces = {value, value.strip(), value.strip("\n")}
    lines = value.splitlines()
    if len(lines) > 1:
        pieces.update(line.strip() for line in lines)
    forms: set[str] = set()
    for p in pieces:
        if len(p) < _MIN_SECRET_LEN:
            continue
        forms.update(
            (
                p,
                repr(p)[1:-1],
                json.dumps(p)[1:-1],
                json.dumps(p, ensure_ascii=False)[1:-1],
                repr(p.encode("utf-8", "surrogateescape"))[2:-1],
                quote(p, safe=""),
                quote_plus(p, safe=""),
            )
        )
    return {f for f in forms if len(f) >= _MIN_SECRET_LEN}


#: how far before a cut a piece of a secret is looked for (the longest cut limit is the
#: supervisor's 500 characters per line)
_CUT_WINDOW = 1024


class Redactor:
    """Replaces every form of every secret (see :func:`secret_forms`) in a text with
    ``[redacted]``, in one pass (a replacement is never matched again), longest form first.
    Where a text was cut (``...`` or an ellipsis), the piece of a form just before the cut is
    replaced too, when it is at least 4 characters long.

    Forms are indexed by their first 4 characters, so the cost is one dictionary look-up per
    character of the text, however many secrets (a directory of certificates has thousands
    of lines) there are.
    """

    def __init__(self, values: list[str]) -> None:
        forms: set[str] = set()
        for v in values:
            forms |= secret_forms(v)
        self.forms = sorted(forms, key=len, reverse=True)
        self._index: dict[str, list[str]] = {}
        for f in self.forms:  # longest first within each head
            self._index.setdefault(f[:_MIN_SECRET_LEN], []).append(f)

    def __call__(self, text: str) -> str:
        if not self._index or not text:
            return text
        return self._cut_pieces(self._replace(text))

    def _replace(self, text: str) -> str:
        index, out, pos, i = self._index, [], 0, 0
        last = len(text) - _MIN_SECRET_LEN
        while i <= last:
            for form in index.get(text[i : i + _MIN_SECRET_LEN], ()):
                if text.startswith(form, i):
                    out += (text[pos:i], REDACTED)
                    i = pos = i + len(form)
                    break
            else:
                i += 1
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)

    def _cut_pieces(self, text: str) -> str:
        if not any(mark in text for mark in _CUT_MARKS):
            return text
        out: list[str] = []
        pos = 0
        for i in _cut_positions(text):
            if i < pos:
                continue
            k = self._piece_before(text, i, pos)
            if k:
                out += (text[pos : i - k], REDACTED)
                pos = i
        out.append(text[pos:])
        return "".join(out)

    def _piece_before(self, text: str, i: int, floor: int) -> int:
        """The length of the longest start of a form that ``text[:i]`` ends with (>= 4)."""
        index = self._index
        for j in range(max(floor, i - _CUT_WINDOW), i - _MIN_SECRET_LEN + 1):  # longest first
            forms = index.get(text[j : j + _MIN_SECRET_LEN])
            if forms:
                piece = text[j:i]
                if any(len(f) > len(piece) and f.startswith(piece) for f in forms):
                    return i - j
        return 0


def _cut_positions(text: str) -> list[int]:
    found: set[int] = set()
    for mark in _CUT_MARKS:
        i = text.find(mark)
        while i >= 0:
            found.add(i)
            i = text.find(mark, i + len(mark))
    return sorted(found)


def redactor(environ: dict[str, str] | None = None) -> Redactor:
    """A :class:`Redactor` of every secret this process could have read."""
    return Redactor(secret_values(environ))
