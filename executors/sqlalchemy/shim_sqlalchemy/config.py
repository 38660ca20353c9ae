"""The SQLAlchemy task's configuration: the authoring side's :class:`SQLAlchemyConfig` and the
template's ``custom`` as the executor decodes it (:class:`SQLAlchemyCustom`).

This module is imported in the container too: it imports nothing of shimkit's authoring side
(``shim.task``) and nothing heavy (no SQLAlchemy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shim.task.resources import Secret

#: connect arguments that only ever come from a secret (refused in ``connect_args``)
SECRET_ARGS = frozenset({"password", "sslpassword", "passfile", "sslkey"})


def _check_json(value: Any, where: str) -> None:
    """``value`` must survive a protobuf Struct: str, number, bool, None, lists, str-keyed dicts."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} cannot be stored in a task template")
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: keys must be strings, got {k!r}")
            _check_json(v, f"{where}[{k!r}]")
        return
    raise ValueError(
        f"{where}: a {type(value).__name__} cannot be stored in a task template; use str, "
        "int, float, bool, None, lists or dicts of them"
    )


def secrets_in_url(uri: str) -> list[str]:
    """What a SQLAlchemy URL carries in clear that only a secret may: ``"password"`` for
    ``scheme://user:password@host/...``, and each :data:`SECRET_ARGS` key of its query
    string (``?password=...``, which SQLAlchemy passes to the driver's ``connect()``)."""
    from urllib.parse import parse_qsl

    rest = uri.split("://", 1)[1] if "://" in uri else ""
    rest, _, query = rest.partition("?")
    netloc = rest.split("/", 1)[0]
    found = []
    if "@" in netloc and ":" in netloc.rsplit("@", 1)[0]:
        found.append("password")
    for key, _value in parse_qsl(query.split("#", 1)[0], keep_blank_values=True):
        if key in SECRET_ARGS and key not in found:
            found.append(key)
    return found


@dataclass(frozen=True)
class SQLAlchemyConfig:
    """Where the database is and how to connect.

    ``uri``: a SQLAlchemy URL without a password (``postgresql+psycopg://user@host:5432/db``;
    the scheme picks the dialect and driver, which the image must have installed).
    ``connect_args``: keyword arguments for the DB-API ``connect()`` (``{"sslmode":
    "require", "connect_timeout": 5}``); plain values, stored in the template in clear.
    ``secret_connect_args``: connect arguments whose values are secrets,
    ``{"password": Secret(group="db", key="password")}``: only the secret's *name* goes into
    the template; the value is read at run time where the platform injects it.
    ``read_only``: run the query in a read-only transaction (default); ``False`` commits
    what the statement does.

    Checked here, when the task is defined: a password in ``uri`` or in ``connect_args`` is
    refused (use ``secret_connect_args``), and every field must have its type.
    """

    uri: str
    connect_args: dict[str, Any] | None = None
    secret_connect_args: dict[str, Secret] | None = None
    read_only: bool = True

    def __post_init__(self) -> None:
        from shim.task.resources import (
            Secret,
        )  # authoring side only: the executor never builds this

        if not isinstance(self.uri, str) or not self.uri.strip():
            raise ValueError(f"SQLAlchemyConfig.uri must be a non-empty string, got {self.uri!r}")
        if "://" not in self.uri:
            raise ValueError(
                f"SQLAlchemyConfig.uri {self.uri!r} is not a SQLAlchemy URL; write "
                "dialect+driver://user@host:port/database, e.g. "
                "postgresql+psycopg://reader@db.example.com:5432/shop"
            )
        leaked = secrets_in_url(self.uri)
        if leaked:
            raise ValueError(
                f"SQLAlchemyConfig.uri contains a {leaked[0]}, which would be stored in the "
                "task template in clear; remove it from the URL and pass it as "
                f"secret_connect_args={{{leaked[0]!r}: Secret(group=..., key=...)}}"
            )
        if self.connect_args is not None:
            if not isinstance(self.connect_args, Mapping):
                raise ValueError(
                    "SQLAlchemyConfig.connect_args must be a dict of connect arguments, got "
                    f"{type(self.connect_args).__name__}"
                )
            _check_json(dict(self.connect_args), "SQLAlchemyConfig.connect_args")
            leaked = sorted(SECRET_ARGS & set(self.connect_args))
            if leaked:
                raise ValueError(
                    f"SQLAlchemyConfig.connect_args sets {', '.join(leaked)}, which would be "
                    "stored in the task template in clear; pass it as secret_connect_args="
                    f"{{{leaked[0]!r}: Secret(group=..., key=...)}}"
                )
        if self.secret_connect_args is not None:
            if not isinstance(self.secret_connect_args, Mapping):
                raise ValueError(
                    "SQLAlchemyConfig.secret_connect_args must map connect arguments to "
                    f"Secret(group, key), got {type(self.secret_connect_args).__name__}"
                )
            for arg, secret in self.secret_connect_args.items():
                if not isinstance(arg, str) or not arg:
                    raise ValueError(
                        f"SQLAlchemyConfig.secret_connect_args: {arg!r} is not a connect "
                        "argument name"
                    )
                if not isinstance(secret, Secret):
                    raise ValueError(
                        f"SQLAlchemyConfig.secret_connect_args[{arg!r}] must be a "
                        f"shim.Secret(group, key), got {type(secret).__name__}"
                    )
            both = sorted(set(self.secret_connect_args) & set(self.connect_args or {}))
            if both:
                raise ValueError(
                    f"SQLAlchemyConfig: {', '.join(map(repr, both))} is in both connect_args "
                    "and secret_connect_args; keep one"
                )
        if not isinstance(self.read_only, bool):
            raise ValueError(f"SQLAlchemyConfig.read_only must be a bool, got {self.read_only!r}")


@dataclass(frozen=True)
class SecretRef:
    """A secret named in the template: ``group`` and ``key`` (WIRE.md section 5). flytekit's
    templates also carry ``group_version`` and ``mount_requirement``; they are not needed to
    read the value and are ignored."""

    group: str
    key: str | None = None


@dataclass(frozen=True)
class SQLAlchemyCustom:
    """The template's ``custom`` for ``type = "sqlalchemy"``.

    The keys flytekit's ``SQLAlchemyTask`` writes (``query_template``, ``uri``,
    ``connect_args``, ``secret_connect_args``) plus shimkit's ``read_only`` (absent in
    flytekit's templates: read-only too).
    """

    query_template: str
    uri: str
    connect_args: dict = field(default_factory=dict)
    secret_connect_args: dict[str, SecretRef] | None = None
    read_only: bool = True
