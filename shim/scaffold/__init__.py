"""``shim new``: starting points for task authors, generated from the templates next to this
module (``executor/``: an executor distribution with its task class, typed config, entry
point, Dockerfile FROM shimkit's base image, README and tests through ``shim.testing``).

Templates are plain files with ``{{key}}`` markers (only the keys of :func:`executor_values`;
an unknown key is an error, so a template cannot ship half-filled). ``pkg/`` becomes the
import package's directory and ``dockerignore`` / ``gitignore`` their dot-files.
"""

from __future__ import annotations

import keyword
import os
import re
import sys
from pathlib import Path

from shim.errors import UserError

__all__ = ["ScaffoldError", "executor_values", "new_executor"]

TEMPLATES = Path(__file__).resolve().parent
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_MARK = re.compile(r"\{\{([A-Za-z_]+)\}\}")
#: import names a generated package must not take
_TAKEN = {"shim", "test", "tests", "pytest", "flytekit", "flyte"}
_RENAMED = {"dockerignore": ".dockerignore", "gitignore": ".gitignore"}


class ScaffoldError(UserError):
    """The name or the directory cannot be used."""

    code = "ScaffoldError"


def executor_values(name: str, package: str | None = None) -> dict[str, str]:
    """The values of the templates' ``{{key}}`` markers for the executor ``name``.

    ``name`` is lower case, words joined by ``-`` or ``_`` (``greet``, ``word-count``): the
    distribution is ``word-count``, the import package ``word_count`` (or ``package``), the
    classes ``WordCountTask``, ``WordCountConfig``, ``WordCountExecutor``, the task type
    ``word_count`` and the image ``word-count:0.1.0``.
    """
    from shim.images import IMAGES, shim_version

    if not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a usable name: lower-case letters and digits, words joined by "
            "'-' or '_', starting with a letter (e.g. greet, word-count)"
        )
    dist = name.replace("_", "-")
    package = package or name.replace("-", "_")
    if not package.isidentifier() or keyword.iskeyword(package) or package != package.lower():
        raise ScaffoldError(f"--package {package!r} is not a lower-case Python identifier")
    if package in _TAKEN or package in sys.stdlib_module_names:
        raise ScaffoldError(
            f"the import package would be {package!r}, the name of a module of Python or of "
            "the tools; choose another name, or --package NAME"
        )
    words = re.split(r"[-_]", name)
    return {
        "name": name,
        "dist": dist,
        "package": package,
        "Class": "".join(w[:1].upper() + w[1:] for w in words),
        "image": f"{dist}:0.1.0",
        "shim_version": shim_version() if shim_version() != "dev" else "0.1.0",
        "shim_tag": IMAGES["base"].tag.split(":", 1)[1],
    }


def render(text: str, values: dict[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise ScaffoldError(f"template {where} uses an unknown key {{{{{key}}}}}")
        return values[key]

    return _MARK.sub(sub, text)


def new_executor(
    name: str, directory: str | os.PathLike[str] | None = None, *, package: str | None = None
) -> list[Path]:
    """Write a new executor distribution for ``name`` into ``directory`` (default: ``./<dist>``,
    which must not exist or be empty); return the files written."""
    values = executor_values(name, package)
    target = Path(directory) if directory is not None else Path(values["dist"])
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not empty; choose another --dir")
    src_root = TEMPLATES / "executor"
    written: list[Path] = []
    for src in sorted(src_root.rglob("*.tmpl")):
        rel = src.relative_to(src_root).with_suffix("")  # drop .tmpl
        parts = [values["package"] if p == "pkg" else _RENAMED.get(p, p) for p in rel.parts]
        dst = target.joinpath(*parts)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(render(src.read_text(), values, str(rel)))
        written.append(dst)
    return written
