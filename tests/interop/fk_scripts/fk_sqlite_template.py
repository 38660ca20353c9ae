"""(flytekit venv) Serialize flytekit's own SQLite3Task: task.pb, inputs.pb and its container args.

usage: fk_sqlite_template.py OUT_DIR SPEC_JSON
SPEC_JSON: {"name", "query", "uri", "compressed", "inputs": {name: [type, value]},
            "output": "schema" | "dataframe"}
Writes OUT_DIR/task.pb, OUT_DIR/inputs.pb and prints {"args": [...], "image": ...} as JSON.
"""

import json
import sys
from collections import OrderedDict
from pathlib import Path

from flytekit import FlyteContextManager
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.extras.sqlite3.task import SQLite3Config, SQLite3Task
from flytekit.tools.translator import get_serializable

PY_TYPES = {"int": int, "str": str, "float": float, "bool": bool}


def main() -> None:
    out = Path(sys.argv[1])
    spec = json.loads(sys.argv[2])
    inputs = {k: PY_TYPES[t] for k, (t, _) in spec["inputs"].items()}
    kwargs = {}
    if spec.get("output") == "dataframe":
        import pandas as pd

        kwargs["output_schema_type"] = pd.DataFrame
    task = SQLite3Task(
        name=spec["name"],
        query_template=spec["query"],
        inputs=inputs,
        task_config=SQLite3Config(uri=spec["uri"], compressed=spec.get("compressed", False)),
        **kwargs,
    )
    settings = SerializationSettings(
        image_config=ImageConfig(default_image=Image(name="default", fqn="img", tag="1")),
        project="interop",
        domain="development",
        version="v1",
    )
    spec_model = get_serializable(OrderedDict(), settings, task)
    tt = spec_model.template.to_flyte_idl()
    (out / "task.pb").write_bytes(tt.SerializeToString())

    ctx = FlyteContextManager.current_context()
    values = {k: v for k, (_, v) in spec["inputs"].items()}
    lm = TypeEngine.dict_to_literal_map(ctx, values, inputs)
    (out / "inputs.pb").write_bytes(lm.to_flyte_idl().SerializeToString())
    print(json.dumps({"args": list(tt.container.args), "image": tt.container.image}))


if __name__ == "__main__":
    main()
