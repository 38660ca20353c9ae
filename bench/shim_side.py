"""Serialize the shimkit side's tasks with shimkit (run with the shimkit venv's python).

``python shim_side.py SPEC_JSON`` where the spec is ``{"kind": "noop"|"sqlite"|"sqlalchemy"|
"file"|"frame", "dir": ..., ...}``: writes ``<dir>/task.pb`` and ``<dir>/inputs.pb`` and prints
the container args (placeholders unrendered) as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shim import DataFrame, File, PythonCustomizedContainerTask, idl, to_bytes
from shim.task.template import SerializationContext
from shim.types import TransferContext, python_to_literal_map


def build(spec: dict) -> tuple[object, dict]:
    import shim_executors as ex

    kind = spec["kind"]
    if kind == "noop":
        task = PythonCustomizedContainerTask(
            name="bench.noop",
            container_image="bench:noop",
            executor_type=ex.NoopExecutor,
            task_type="bench-noop",
            task_config=None,
            inputs={"x": int},
            outputs={"y": int},
        )
        return task, {"x": 7}
    if kind == "sqlite":
        from shim_sqlite3 import SQLite3Config, SQLite3Task

        task = SQLite3Task(
            name="bench.sqlite",
            query_template=spec["query"],
            inputs={"min_id": int},
            task_config=SQLite3Config(uri=spec["uri"], compressed=spec["compressed"]),
        )
        return task, {"min_id": 0}
    if kind == "sqlalchemy":
        from shim_sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask

        from shim import Secret

        task = SQLAlchemyTask(
            name="bench.sqlalchemy",
            query_template=spec["query"],
            inputs={"min_id": int},
            task_config=SQLAlchemyConfig(
                uri=spec["uri"],
                secret_connect_args={"password": Secret(group="bench", key="password")},
            ),
        )
        return task, {"min_id": 0}
    executor, out = {
        "file": (ex.BigFileExecutor, File),
        "frame": (ex.BigFrameExecutor, DataFrame),
    }[kind]
    task = PythonCustomizedContainerTask(
        name=f"bench.{kind}",
        container_image="bench:big",
        executor_type=executor,
        task_type="bench-big",
        task_config=ex.PathConfig(path=spec["path"]),
        inputs={},
        outputs={"out": out},
    )
    return task, {}


def main() -> None:
    spec = json.loads(sys.argv[1])
    task, inputs = build(spec)
    out = Path(spec["dir"])
    out.mkdir(parents=True, exist_ok=True)
    sctx = SerializationContext()
    (out / "task.pb").write_bytes(to_bytes(task, sctx))
    ctx = TransferContext(raw_output_prefix=str(out / "input-data"), scratch_dir=out)
    lm = python_to_literal_map(inputs, task.interface.inputs, ctx, what="input")
    (out / "inputs.pb").write_bytes(idl.serialize(lm))
    print(json.dumps(task.container_args(sctx)))


if __name__ == "__main__":
    main()
