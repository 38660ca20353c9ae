"""(flytekit venv) Serialize flytekitplugins-sqlalchemy's SQLAlchemyTask: task.pb, inputs.pb, args.

usage: fk_sqlalchemy_template.py OUT_DIR SPEC_JSON
SPEC_JSON: {"name", "query", "uri", "connect_args", "secret": [group, key] | null,
            "inputs": {name: [type, value]}, "output": "schema" | "dataframe"}
The secret becomes ``secret_connect_args={"password": Secret(group, key)}`` and, as a flytekit
user must do by hand, ``secret_requests=[that secret]``.
Writes OUT_DIR/task.pb, OUT_DIR/inputs.pb and prints {"args": [...], "custom": {...}} as JSON.
"""

import json
import sys
from collections import OrderedDict
from pathlib import Path

from flytekit import FlyteContextManager
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.models.security import Secret
from flytekit.tools.translator import get_serializable
from flytekitplugins.sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask
from google.protobuf.json_format import MessageToDict

PY_TYPES = {"int": int, "str": str, "float": float, "bool": bool}


def main() -> None:
    out = Path(sys.argv[1])
    spec = json.loads(sys.argv[2])
    inputs = {k: PY_TYPES[t] for k, (t, _) in spec["inputs"].items()}
    kwargs = {}
    if spec.get("output") == "dataframe":
        import pandas as pd

        kwargs["output_schema_type"] = pd.DataFrame
    secret_args = None
    if spec.get("secret"):
        group, key = spec["secret"]
        secret = Secret(group=group, key=key)
        secret_args = {"password": secret}
        kwargs["secret_requests"] = [secret]
    task = SQLAlchemyTask(
        name=spec["name"],
        query_template=spec["query"],
        inputs=inputs,
        task_config=SQLAlchemyConfig(
            uri=spec["uri"],
            connect_args=spec.get("connect_args") or None,
            secret_connect_args=secret_args,
        ),
        **kwargs,
    )
    settings = SerializationSettings(
        image_config=ImageConfig(default_image=Image(name="default", fqn="img", tag="1")),
        project="interop",
        domain="development",
        version="v1",
    )
    tt = get_serializable(OrderedDict(), settings, task).template.to_flyte_idl()
    (out / "task.pb").write_bytes(tt.SerializeToString())
    ctx = FlyteContextManager.current_context()
    values = {k: v for k, (_, v) in spec["inputs"].items()}
    lm = TypeEngine.dict_to_literal_map(ctx, values, inputs)
    (out / "inputs.pb").write_bytes(lm.to_flyte_idl().SerializeToString())
    print(
        json.dumps(
            {
                "args": list(tt.container.args),
                "type": tt.type,
                "version": tt.task_type_version,
                "custom": MessageToDict(tt.custom),
                "secrets": [[s.group, s.key] for s in tt.security_context.secrets],
            }
        )
    )


if __name__ == "__main__":
    main()
