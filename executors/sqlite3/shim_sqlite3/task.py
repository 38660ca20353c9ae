"""``SQLite3Task``: run a query against an SQLite database shipped as a file or archive."""

from __future__ import annotations

from typing import Any

from shim import PythonCustomizedContainerTask, SerializationContext
from shim.sql.outputs import results_type
from shim_sqlite3.config import SQLite3Config
from shim_sqlite3.executor import SQLite3TaskExecutor
from shim_sqlite3.query import check_template

TASK_TYPE = "sqlite"
#: 1: values bound as SQL parameters (shimkit). 0: flytekit's textual substitution.
TASK_TYPE_VERSION = 1


def default_image() -> str:
    """The tag ``shim images build sqlite3`` gives the image built from this source tree."""
    from shim.images import IMAGES

    return IMAGES["sqlite3"].tag


def _refuse_relative(name: str, uri: str) -> None:
    """A relative local ``uri`` would name a different file in-process (the caller's working
    directory), in a container and on a cluster: refused, with the absolute form to use."""
    import os

    from shim.storage import is_local, local_path

    if is_local(uri) and not os.path.isabs(local_path(uri)):
        absolute = os.path.abspath(local_path(uri))
        raise ValueError(
            f"SQLite3Task {name!r}: task_config.uri {uri!r} is a relative path, which would name "
            "a different file in-process, in a container and on a cluster; give an absolute "
            f"path (here: {absolute!r}) or a URL (file:///..., s3://...)"
        )


class SQLite3Task(PythonCustomizedContainerTask[SQLite3Config]):
    """Runs ``query_template`` against the database at ``task_config.uri``; one output,
    ``results``, a dataframe streamed to parquet.

    Placeholders are ``{{ .inputs.<name> }}``; every placeholder needs an input, every input
    must be used and no placeholder may be quoted (checked here, ValueError). Values are bound
    as SQL parameters, never spliced into the SQL text, and the database is opened read-only.
    A local ``uri`` must be absolute (ValueError otherwise); ``runner="container"`` mounts that
    file read-only at the same path (:meth:`local_paths`).
    """

    def __init__(
        self,
        name: str,
        query_template: str,
        inputs: dict[str, Any] | None = None,
        task_config: SQLite3Config | None = None,
        output_schema_type: Any = None,
        container_image: str | None = None,
        **kwargs: Any,
    ) -> None:
        if task_config is None or not isinstance(task_config, SQLite3Config):
            raise ValueError(
                f"SQLite3Task {name!r}: task_config must be SQLite3Config(uri=..., "
                f"compressed=...), got {task_config!r}"
            )
        if not task_config.uri:
            raise ValueError(f"SQLite3Task {name!r}: task_config.uri is empty")
        if not isinstance(query_template, str) or not query_template.strip():
            raise ValueError(f"SQLite3Task {name!r}: query_template is empty")
        inputs = dict(inputs or {})
        kwargs.setdefault("task_type_version", TASK_TYPE_VERSION)
        try:
            check_template(query_template, inputs, task_type_version=kwargs["task_type_version"])
        except ValueError as e:
            raise ValueError(f"SQLite3Task {name!r}: {e}") from None
        self._query_template = query_template
        super().__init__(
            name=name,
            container_image=container_image or default_image(),
            executor_type=SQLite3TaskExecutor,
            task_type=TASK_TYPE,
            task_config=task_config,
            inputs=inputs,
            outputs={"results": results_type(output_schema_type)},
            **kwargs,
        )
        _refuse_relative(name, task_config.uri)

    def local_paths(self, sctx: SerializationContext) -> list[str]:
        """The database file when ``uri`` is a local path (the container runner mounts it)."""
        from shim.storage import is_local, local_path

        uri = self.task_config.uri
        return [local_path(uri)] if is_local(uri) else []

    @property
    def query_template(self) -> str:
        return self._query_template

    def get_custom(self) -> dict[str, Any]:
        cfg = self.task_config
        return {
            "query_template": self._query_template,
            "uri": cfg.uri,
            "compressed": bool(cfg.compressed),
        }
