"""Shared helpers of the scripts that run inside the flytekit virtualenv (never in shimkit's)."""

import contextlib
import json
import sys
import tempfile

from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.data_persistence import FileAccessProvider


@contextlib.contextmanager
def flyte_context(raw_output_prefix=None):
    """A FlyteContext whose file access writes offloaded data under ``raw_output_prefix``."""
    sandbox = tempfile.mkdtemp(prefix="fk-sandbox-")
    fa = FileAccessProvider(
        local_sandbox_dir=sandbox, raw_output_prefix=raw_output_prefix or sandbox
    )
    ctx = FlyteContextManager.current_context().with_file_access(fa).build()
    with FlyteContextManager.with_context(ctx.new_builder()) as c:
        yield c


def emit(obj):
    """The script's answer: one JSON line on stdout (the last line)."""
    sys.stdout.write("\n" + json.dumps(obj, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def read_literal_map(path):
    from flyteidl.core import literals_pb2
    from flytekit.models.literals import LiteralMap

    pb = literals_pb2.LiteralMap()
    with open(path, "rb") as f:
        pb.ParseFromString(f.read())
    return LiteralMap.from_flyte_idl(pb)


def write_literal_map(path, literals):
    from flytekit.models.literals import LiteralMap

    with open(path, "wb") as f:
        f.write(LiteralMap(literals=literals).to_flyte_idl().SerializeToString())
