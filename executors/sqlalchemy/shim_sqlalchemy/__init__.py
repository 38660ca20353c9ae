"""shimkit-sqlalchemy: the SQLAlchemy task and its executor.

``SQLAlchemyTask`` and ``SQLAlchemyConfig`` are what workflow users import;
``SQLAlchemyTaskExecutor`` is what the image runs. Attributes load lazily, so the runtime
importing ``shim_sqlalchemy.executor`` does not pull in the authoring side, and nothing here
imports SQLAlchemy or pyarrow until a query runs. Query templates are shimkit's shared
:mod:`shim.sql.template`; :mod:`shim_sqlalchemy.result` maps result columns to Arrow and
writes parquet; :mod:`shim_sqlalchemy.errors` classifies database failures.
"""

from __future__ import annotations

from shim._lazy import lazy_exports

_EXPORTS = {
    "SQLAlchemyTask": "shim_sqlalchemy.task",
    "SQLAlchemyConfig": "shim_sqlalchemy.config",
    "SQLAlchemyTaskExecutor": "shim_sqlalchemy.executor",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("shim_sqlalchemy", _EXPORTS, globals())
