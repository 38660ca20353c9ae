"""Which connector runs which task type: registered in code or through entry points."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from shim.connectors.base import AsyncConnector, ConnectorNotFound, ResourceMeta

#: entry-point group of connector distributions (``name = "package.module:ConnectorClass"``)
ENTRY_POINT_GROUP = "shim.connectors"


@dataclass(frozen=True)
class EntryPointFailure:
    """An entry point of ``shim.connectors`` that could not be loaded or registered."""

    name: str
    value: str
    error: str


class ConnectorRegistry:
    """Connectors keyed by (task type, task type version).

    ``register(connector)`` adds one (an instance, or a class that is instantiated without
    arguments); a second connector for the same key raises ValueError unless
    ``override=True``. ``get_connector(type, version)`` finds one, loading the connectors
    installed under the entry-point group ``shim.connectors`` on first use, and raises
    :class:`ConnectorNotFound` naming what is registered.
    """

    _connectors: ClassVar[dict[tuple[str, int], AsyncConnector]] = {}
    _entry_points_loaded: ClassVar[bool] = False
    _failures: ClassVar[list[EntryPointFailure]] = []
    _lock: ClassVar[threading.RLock] = threading.RLock()

    @classmethod
    def register(
        cls, connector: AsyncConnector | type[AsyncConnector], override: bool = False
    ) -> None:
        if isinstance(connector, type):
            if not issubclass(connector, AsyncConnector):
                raise TypeError(f"{connector.__qualname__} is not an AsyncConnector subclass")
            connector = connector()
        if not isinstance(connector, AsyncConnector):
            raise TypeError(f"expected an AsyncConnector, got {type(connector).__name__}")
        _check(connector)
        key = (connector.task_type_name, connector.task_type_version)
        with cls._lock:
            existing = cls._connectors.get(key)
            if existing is not None and not override:
                raise ValueError(
                    f"a connector for task type {key[0]!r} version {key[1]} is already registered "
                    f"({type(existing).__module__}.{type(existing).__qualname__}); pass "
                    "override=True to replace it"
                )
            cls._connectors[key] = connector

    @classmethod
    def unregister(cls, task_type_name: str, task_type_version: int = 0) -> None:
        with cls._lock:
            cls._connectors.pop((task_type_name, task_type_version), None)

    @classmethod
    def get_connector(cls, task_type_name: str, task_type_version: int = 0) -> AsyncConnector:
        key = (task_type_name, int(task_type_version))
        found = cls._connectors.get(key)
        if found is None:
            cls.load_entry_points()
            found = cls._connectors.get(key)
        if found is None:
            known = ", ".join(f"{t} v{v}" for t, v in sorted(cls._connectors)) or "none"
            failed = "".join(
                f"; entry point {f.name!r} failed to load: {f.error}" for f in cls._failures
            )
            raise ConnectorNotFound(
                f"no connector for task type {task_type_name!r} version {task_type_version} "
                f"(registered: {known}{failed}); install the connector's distribution (it "
                f"declares itself under the entry-point group {ENTRY_POINT_GROUP!r}) or "
                "register it with ConnectorRegistry.register(...)"
            )
        return found

    @classmethod
    def list_connectors(cls) -> list[AsyncConnector]:
        """Every registered connector (entry points loaded), sorted by task type."""
        cls.load_entry_points()
        return [cls._connectors[k] for k in sorted(cls._connectors)]

    @classmethod
    def get_by_name(cls, name: str) -> list[AsyncConnector]:
        """The connectors whose ``name`` is ``name`` (one name may serve several task types)."""
        return [c for c in cls.list_connectors() if c.name == name]

    @classmethod
    def failures(cls) -> list[EntryPointFailure]:
        """Entry points that could not be loaded (see ``shim connectors``)."""
        cls.load_entry_points()
        return list(cls._failures)

    @classmethod
    def load_entry_points(cls, *, reload: bool = False) -> None:
        """Register the connectors of every installed ``shim.connectors`` entry point, once.

        A failing entry point does not stop the others: it is recorded (:meth:`failures`) and
        named in :class:`ConnectorNotFound` messages. A connector already registered in code
        for the same key wins over an entry point.
        """
        with cls._lock:
            if cls._entry_points_loaded and not reload:
                return
            cls._entry_points_loaded = True
            cls._failures = []
            from importlib.metadata import entry_points

            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                try:
                    obj = ep.load()
                    connector = obj() if isinstance(obj, type) else obj
                    if not isinstance(connector, AsyncConnector):
                        raise TypeError(f"{ep.value} is not an AsyncConnector (class or instance)")
                    _check(connector)
                    key = (connector.task_type_name, connector.task_type_version)
                    if key not in cls._connectors:
                        cls._connectors[key] = connector
                except Exception as e:  # a broken distribution must not hide the others
                    cls._failures.append(
                        EntryPointFailure(ep.name, ep.value, f"{type(e).__name__}: {e}")
                    )


def _check(connector: AsyncConnector) -> None:
    cname = f"{type(connector).__module__}.{type(connector).__qualname__}"
    ttype = getattr(connector, "task_type_name", None)
    if not isinstance(ttype, str) or not ttype:
        raise ValueError(f"connector {cname} must set task_type_name to a non-empty str")
    version = getattr(connector, "task_type_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(
            f"connector {cname}: task_type_version must be an int >= 0, got {version!r}"
        )
    meta = getattr(connector, "metadata_type", None)
    if not (
        isinstance(meta, type) and issubclass(meta, ResourceMeta) and dataclasses.is_dataclass(meta)
    ):
        raise ValueError(
            f"connector {cname} must set metadata_type to a ResourceMeta dataclass, got {meta!r}"
        )


def connector_source(connector: Any) -> str:
    return f"{type(connector).__module__}.{type(connector).__qualname__}"
