"""Settings read from environment variables: the one parser, with one boolean dialect.

Every ``SHIM_*`` / ``FLYTE_*`` setting shimkit reads goes through these getters, so that a
value means the same everywhere and a bad one is reported the same way: a
:class:`InvalidConfigError` (a :class:`~shim.errors.UserError`, code ``InvalidConfig``) that
names the variable, the value, what was expected and what to do.

- Unset and blank (only whitespace) mean "not set": the default applies.
- Booleans (:func:`flag`): ``1 true t yes y on`` are true, ``0 false f no n off`` are false
  (any case, surrounding spaces ignored); anything else is an error.
- Numbers (:func:`integer`, :func:`number`): Python's literals (``8``, ``1_000``, ``2.5``,
  ``1e3``); not-a-number and infinities are refused; bounds are checked.

``environ`` (default ``os.environ``) lets callers read from a given mapping (a child's
environment, a test). Importing this module costs nothing beyond ``os``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from shim.errors import UserError

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "InvalidConfigError",
    "choice",
    "flag",
    "integer",
    "number",
    "text",
]

TRUE_WORDS = ("1", "true", "t", "yes", "y", "on")
FALSE_WORDS = ("0", "false", "f", "no", "n", "off")


class InvalidConfigError(UserError):
    """An environment variable holds a value its setting cannot use."""

    code = "InvalidConfig"


def _invalid(name: str, raw: str, expected: str, default: object = None) -> InvalidConfigError:
    hint = f"set it to {expected}"
    if default is not None:
        hint += f", or unset it for the default ({default})"
    return InvalidConfigError(f"environment variable {name}={raw!r} is not {expected}: {hint}")


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value


def text(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """The variable's value with surrounding spaces removed, or ``default`` when unset/blank."""
    raw = _raw(name, environ)
    return default if raw is None else raw.strip()


def flag(name: str, default: bool = False, *, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean setting (see the module doc for the words)."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _invalid(name, raw, "a boolean (true/false, 1/0, yes/no, on/off)", str(default).lower())


def integer(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """A whole number, at least ``minimum`` when given."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    expected = "a whole number" + (f" >= {minimum}" if minimum is not None else "")
    try:
        value = int(raw.strip())
    except ValueError:
        raise _invalid(name, raw, expected, default) from None
    if minimum is not None and value < minimum:
        raise _invalid(name, raw, expected, default)
    return value


def number(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    positive: bool = False,
    unit: str = "",
    environ: Mapping[str, str] | None = None,
) -> float:
    """A finite number: ``> 0`` with ``positive``, ``>= minimum`` when given. ``unit``
    (e.g. ``"seconds"``) goes into the message."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    what = "a positive number" if positive else "a number"
    if minimum is not None:
        what += f" >= {minimum:g}"
    if unit:
        what += f" of {unit}"
    try:
        value = float(raw.strip())
    except ValueError:
        raise _invalid(name, raw, what, f"{default:g}") from None
    if (
        not math.isfinite(value)
        or (positive and value <= 0)
        or (minimum is not None and value < minimum)
    ):
        raise _invalid(name, raw, what, f"{default:g}")
    return value


def choice(
    name: str,
    choices: Sequence[str],
    default: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """One of ``choices`` (compared as given, after removing surrounding spaces)."""
    raw = _raw(name, environ)
    if raw is None:
        return default
    value = raw.strip()
    if value not in choices:
        raise _invalid(name, raw, f"one of {', '.join(choices)}", default)
    return value
