"""Serialize the no-op function task with its own framework (``python fn_side.py SIDE DIR``).

Writes ``DIR/task.pb`` and ``DIR/inputs.pb`` and prints the container args as JSON.
"""

from __future__ import annotations

import json
import os
import sys


def shim_side(out: str) -> list[str]:
    from shim_fn_tasks import noop

    from shim import idl, to_bytes
    from shim.task.template import SerializationContext
    from shim.types import TransferContext, python_to_literal_map

    sctx = SerializationContext(project="bench", version="v1")
    with open(os.path.join(out, "task.pb"), "wb") as f:
        f.write(to_bytes(noop, sctx))
    from pathlib import Path

    from shim.storage import default_storage

    ctx = TransferContext(storage=default_storage(), raw_output_prefix=out, scratch_dir=Path(out))
    lm = python_to_literal_map({"x": 7}, noop.interface.inputs, ctx, what="input")
    with open(os.path.join(out, "inputs.pb"), "wb") as f:
        f.write(idl.serialize(lm))
    return noop.container_args(sctx)


def flytekit_side(out: str) -> list[str]:
    from collections import OrderedDict

    from fk_fn_tasks import noop
    from flytekit.configuration import ImageConfig, SerializationSettings
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap
    from flytekit.tools.translator import get_serializable

    settings = SerializationSettings(
        image_config=ImageConfig.auto_default_image(),
        project="bench",
        domain="development",
        version="v1",
    )
    template = get_serializable(OrderedDict(), settings, noop).template
    ctx = FlyteContextManager.current_context()
    lit = TypeEngine.to_literal(ctx, 7, int, TypeEngine.to_literal_type(int))
    with open(os.path.join(out, "task.pb"), "wb") as f:
        f.write(template.to_flyte_idl().SerializeToString())
    with open(os.path.join(out, "inputs.pb"), "wb") as f:
        f.write(LiteralMap(literals={"x": lit}).to_flyte_idl().SerializeToString())
    return list(template.container.args)


if __name__ == "__main__":
    side, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    print(json.dumps(shim_side(out) if side == "shim" else flytekit_side(out)))
