"""Builds ``shim_sqlite3._native``, the SQLite reader in C (src/_native.c; see reader.py).

It needs a C compiler and the headers of Python and SQLite (Debian: ``gcc python3-dev
libsqlite3-dev``) and links against the system's ``libsqlite3``, the library the stdlib
``sqlite3`` module uses. Without them the package installs anyway, without the extension, and
the reader uses the stdlib ``sqlite3`` module: the same results, several times slower, with a
warning on each run. ``SHIM_SQLITE3_NATIVE=require`` (set by ``make install`` and the sqlite3
image) turns a failed build into an error that says what is missing.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HELP = (
    "shimkit-sqlite3: the native reader (shim_sqlite3._native) could not be built: {error}. "
    "It needs a C compiler and the headers of Python and SQLite (Debian/Ubuntu: apt-get "
    "install gcc python3-dev libsqlite3-dev). Without it the reader uses the stdlib sqlite3 "
    "module (same results, slower)"
)


def _required() -> bool:
    return os.environ.get("SHIM_SQLITE3_NATIVE", "").strip().lower() in ("require", "required")


class OptionalBuildExt(build_ext):
    """build_ext that skips the extension with a clear warning when it cannot be built, or
    fails with the same message when SHIM_SQLITE3_NATIVE=require."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all
            self._failed(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # missing header, link error
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        message = HELP.format(error=f"{type(exc).__name__}: {exc}")
        if _required():
            raise SystemExit(message + "; SHIM_SQLITE3_NATIVE=require is set, so this is an error")
        print(f"WARNING: {message}; installing without it", file=sys.stderr)


setup(
    ext_modules=[
        Extension(
            "shim_sqlite3._native",
            sources=["src/_native.c"],
            libraries=["sqlite3"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wno-unused-function"],
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
