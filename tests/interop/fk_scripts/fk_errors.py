"""(flytekit venv) Parse error documents with flyteidl and flytekit's models.

usage: fk_errors.py ERROR_PB...
Prints {path: {"code", "kind", "origin", "message", "worker", "has_timestamp", "model": {...}}}.
"""

import sys

from _fk import emit
from flyteidl.core import errors_pb2, execution_pb2
from flytekit.models.core.errors import ErrorDocument


def parse(path):
    pb = errors_pb2.ErrorDocument()
    with open(path, "rb") as f:
        pb.ParseFromString(f.read())
    e = pb.error
    model = ErrorDocument.from_flyte_idl(pb).error
    return {
        "code": e.code,
        "kind": errors_pb2.ContainerError.Kind.Name(e.kind),
        "origin": execution_pb2.ExecutionError.ErrorKind.Name(e.origin),
        "message": e.message,
        "worker": e.worker,
        "has_timestamp": e.HasField("timestamp"),
        "model": {
            "code": model.code,
            "kind": int(model.kind),
            "origin": int(model.origin),
            "message": model.message,
        },
    }


def main():
    emit({path: parse(path) for path in sys.argv[1:]})


if __name__ == "__main__":
    main()
