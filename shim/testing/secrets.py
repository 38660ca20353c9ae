"""Look for a secret everywhere a run could have put it: texts (stdout, stderr, logs, error
messages) and files (a run's directory: documents, outputs, traces).

A secret is looked for in every form the runtime redacts (:func:`shim.runtime.redaction.
secret_forms`: the value, each line of a multi-line value, their ``repr()``, JSON, bytes and
URL-encoded bodies), so a leak through ``repr(exc)`` or a JSON log is found as well.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: files larger than this are scanned in their first bytes only
MAX_FILE_BYTES = 64 << 20


@dataclass(frozen=True)
class Leak:
    """Where a form of a secret was found."""

    where: str
    form: str

    def __str__(self) -> str:
        return f"{self.where}: contains {self.form!r}"


class SecretScanner:
    """The secrets of a test, and the texts and files to look for them in.

    ``add(secret)`` registers a value; ``scan_text`` / ``scan_path`` return the leaks found;
    ``check(...)`` (texts by name and paths) raises ``AssertionError`` naming each leak.
    """

    def __init__(self, *secrets: str) -> None:
        self.secrets: list[str] = []
        self._forms: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> str:
        """Register ``secret`` (returned, for ``password = scanner.add("...")``)."""
        from shim.runtime.redaction import secret_forms

        self.secrets.append(secret)
        self._forms |= secret_forms(secret)
        return secret

    @property
    def forms(self) -> list[str]:
        return sorted(self._forms, key=len, reverse=True)

    def scan_text(self, text: str | bytes, where: str = "text") -> list[Leak]:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return [Leak(where, f) for f in self.forms if f in text]

    def scan_path(self, path: str | os.PathLike[str]) -> list[Leak]:
        """Every file below ``path`` (or the file itself), read as bytes."""
        root = Path(path)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        leaks: list[Leak] = []
        for f in files:
            try:
                with open(f, "rb") as fh:
                    data = fh.read(MAX_FILE_BYTES)
            except OSError:
                continue
            found = [
                Leak(str(f), form)
                for form in self.forms
                if form.encode("utf-8", "surrogateescape") in data
            ]
            leaks.extend(found or self.scan_text(data, str(f)))
        return leaks

    def check(self, *paths: str | os.PathLike[str], **texts: str | bytes | None) -> None:
        """Assert that no secret appears in ``texts`` (by name: ``stderr=proc.stderr``) or in
        the files below ``paths``."""
        leaks: list[Leak] = []
        for name, text in texts.items():
            if text:
                leaks.extend(self.scan_text(text, name))
        for p in paths:
            if Path(p).exists():
                leaks.extend(self.scan_path(p))
        _raise(leaks)


def _raise(leaks: Iterable[Leak]) -> None:
    leaks = list(dict.fromkeys(leaks))
    if leaks:
        lines = "\n".join(f"  {leak}" for leak in leaks[:20])
        raise AssertionError(f"a secret leaked ({len(leaks)} places):\n{lines}")


def assert_no_secret(
    secret: str, *paths: str | os.PathLike[str], **texts: str | bytes | None
) -> None:
    """Assert that ``secret`` appears, in no form, in ``texts`` or in the files below ``paths``."""
    SecretScanner(secret).check(*paths, **texts)
