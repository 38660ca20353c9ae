"""Serialize the flytekit side's tasks with flytekit itself (run with flytekit's venv python).

``python fk_side.py SPEC_JSON`` where the spec is ``{"kind": "noop"|"sqlite"|"sqlalchemy",
"dir": ..., "uri": ..., "compressed": ..., "query": ...}`` (sqlalchemy: the password comes from
the secret ``bench/password``): writes ``<dir>/task.pb`` and
``<dir>/inputs.pb`` and prints the container args (``{{.x}}`` placeholders unrendered) as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from collections import OrderedDict

from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from flytekit.tools.translator import get_serializable


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["kind"] == "noop":
        from fk_noop import NoopTask

        task, inputs = NoopTask(), {"x": 7}
    elif spec["kind"] == "sqlalchemy":
        from flytekit.models.security import Secret
        from flytekitplugins.sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask

        secret = Secret(group="bench", key="password")
        task = SQLAlchemyTask(
            name="bench.sqlalchemy",
            query_template=spec["query"],
            inputs={"min_id": int},
            task_config=SQLAlchemyConfig(uri=spec["uri"], secret_connect_args={"password": secret}),
            secret_requests=[secret],
        )
        inputs = {"min_id": 0}
    else:
        from flytekit.extras.sqlite3.task import SQLite3Config, SQLite3Task

        task = SQLite3Task(
            name="bench.sqlite",
            query_template=spec["query"],
            inputs={"min_id": int},
            task_config=SQLite3Config(uri=spec["uri"], compressed=spec["compressed"]),
        )
        inputs = {"min_id": 0}
    settings = SerializationSettings(
        image_config=ImageConfig.auto_default_image(),
        project="bench",
        domain="development",
        version="v1",
    )
    entity = get_serializable(OrderedDict(), settings, task)
    template = entity.template
    ctx = FlyteContextManager.current_context()
    literals = {
        name: TypeEngine.to_literal(ctx, value, int, TypeEngine.to_literal_type(int))
        for name, value in inputs.items()
    }
    out = spec["dir"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "task.pb"), "wb") as f:
        f.write(template.to_flyte_idl().SerializeToString())
    with open(os.path.join(out, "inputs.pb"), "wb") as f:
        f.write(LiteralMap(literals=literals).to_flyte_idl().SerializeToString())
    print(json.dumps(list(template.container.args)))


if __name__ == "__main__":
    main()
