"""``SQLAlchemyTask``: run a query on any database SQLAlchemy can reach."""

from __future__ import annotations

from typing import Any

from shim import PythonCustomizedContainerTask, Secret
from shim.sql import check_template, statement_count, syntax_for_url
from shim.sql.outputs import results_type
from shim_sqlalchemy.config import SQLAlchemyConfig
from shim_sqlalchemy.executor import SQLAlchemyTaskExecutor

TASK_TYPE = "sqlalchemy"
#: 1: values bound as SQL parameters (shimkit). 0: flytekit's textual substitution.
TASK_TYPE_VERSION = 1


def default_image() -> str:
    """The tag ``shim images build sqlalchemy`` gives the image built from this source tree."""
    from shim.images import IMAGES

    return IMAGES["sqlalchemy"].tag


class SQLAlchemyTask(PythonCustomizedContainerTask[SQLAlchemyConfig]):
    """Runs ``query_template`` on the database at ``task_config.uri``; one output,
    ``results``, a dataframe streamed to parquet.

    Placeholders are ``{{ .inputs.<name> }}``; every placeholder needs an input, every input
    must be used and no placeholder may be quoted (checked here, with the SQL syntax of the
    URL's dialect: ValueError). Values are bound as SQL parameters, never spliced into the
    SQL text. The query runs in a read-only transaction unless
    ``SQLAlchemyConfig(read_only=False)``, with the task's ``timeout`` as its statement
    timeout. The secrets of ``secret_connect_args`` are declared on the task, so the
    platform injects them; only their names are in the template.
    """

    def __init__(
        self,
        name: str,
        query_template: str,
        task_config: SQLAlchemyConfig | None = None,
        inputs: dict[str, Any] | None = None,
        output_schema_type: Any = None,
        container_image: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(task_config, SQLAlchemyConfig):
            raise ValueError(
                f"SQLAlchemyTask {name!r}: task_config must be SQLAlchemyConfig(uri=..., "
                f"connect_args=..., secret_connect_args=...), got {task_config!r}"
            )
        if not isinstance(query_template, str) or not query_template.strip():
            raise ValueError(f"SQLAlchemyTask {name!r}: query_template is empty")
        inputs = dict(inputs or {})
        kwargs.setdefault("task_type_version", TASK_TYPE_VERSION)
        syntax = syntax_for_url(task_config.uri)
        try:
            check_template(
                query_template,
                inputs,
                syntax=syntax,
                task_type_version=kwargs["task_type_version"],
            )
        except ValueError as e:
            raise ValueError(f"SQLAlchemyTask {name!r}: {e}") from None
        n = statement_count(query_template, syntax)
        if n > 1:
            raise ValueError(
                f"SQLAlchemyTask {name!r}: the query holds {n} SQL statements; a task runs "
                "exactly one"
            )
        self._query_template = query_template
        super().__init__(
            name=name,
            container_image=container_image or default_image(),
            executor_type=SQLAlchemyTaskExecutor,
            task_type=TASK_TYPE,
            task_config=task_config,
            inputs=inputs,
            outputs={"results": results_type(output_schema_type)},
            **kwargs,
        )

    @property
    def query_template(self) -> str:
        return self._query_template

    @property
    def secret_list(self) -> list[Secret]:
        """The task's secrets plus those of ``secret_connect_args``: declared on the template's
        security context so the platform injects them (an override of ``secrets`` keeps them)."""
        items = list(super().secret_list)
        have = {(s.group, s.key) for s in items}
        cfg = self.task_config
        for s in ((cfg.secret_connect_args if cfg else None) or {}).values():
            if (s.group, s.key) not in have:
                items.append(s)
                have.add((s.group, s.key))
        return items

    def get_custom(self) -> dict[str, Any]:
        cfg = self.task_config
        assert cfg is not None
        secrets = cfg.secret_connect_args
        return {
            "query_template": self._query_template,
            "uri": cfg.uri,
            "connect_args": dict(cfg.connect_args or {}),
            "secret_connect_args": (
                {arg: _secret_ref(s) for arg, s in secrets.items()} if secrets else None
            ),
            "read_only": cfg.read_only,
        }


def _secret_ref(secret: Secret) -> dict[str, Any]:
    ref: dict[str, Any] = {"group": secret.group}
    if secret.key:
        ref["key"] = secret.key
    return ref
