"""The shell blocks of docs/tutorial.md, as one script a test runs.

```` ```bash ```` blocks run; ```` ```bash container ```` blocks run only when a container
engine is there; every other block (``python``, ``text``) is shown, never run.
"""

from __future__ import annotations

import re
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
_FENCE = re.compile(r"^```(\S*)[ \t]*(.*?)\s*$")


def blocks(text: str) -> list[tuple[str, str, str]]:
    """``(language, flags, code)`` of each fenced block at the start of a line."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m and m.group(1):
            j = i + 1
            while j < len(lines) and lines[j].rstrip() != "```":
                j += 1
            out.append((m.group(1), m.group(2), "\n".join(lines[i + 1 : j])))
            i = j + 1
        else:
            i += 1
    return out


def script(*, containers: bool, text: str | None = None) -> str:
    """The runnable blocks, in order, as one bash script (each command echoed as it runs)."""
    text = TUTORIAL.read_text() if text is None else text
    parts = []
    for lang, flags, code in blocks(text):
        if lang != "bash" or ("container" in flags.split() and not containers):
            continue
        parts.append(code)
    return "set -euxo pipefail\n" + "\n".join(parts) + "\n"
