"""(flytekit venv) Open a registration package the way a Flyte registration tool does.

usage: fk_package.py PACKAGE_TGZ
Reads the gzip'd tar, parses every member as ``flyteidl.admin.task_pb2.TaskSpec`` (and with
flytekit's ``flytekit.models.task.TaskSpec``) and prints
{"members": [{"name", "is_file", "size", "only_known_fields", "has_template", "model_name",
              "template": {...}}]}
where ``template`` is fk_template.summarize of the spec's template.
"""

import sys
import tarfile

from _fk import emit
from fk_template import summarize
from flyteidl.admin import task_pb2
from flytekit.models.task import TaskSpec


def main():
    members = []
    with tarfile.open(sys.argv[1], "r:gz") as tar:
        for info in tar.getmembers():
            entry = {"name": info.name, "is_file": info.isfile(), "size": info.size}
            if info.isfile():
                data = tar.extractfile(info).read()
                spec = task_pb2.TaskSpec()
                spec.ParseFromString(data)
                size = len(spec.SerializeToString())
                spec.DiscardUnknownFields()
                model = TaskSpec.from_flyte_idl(spec)
                entry.update(
                    {
                        # every byte is a known TaskSpec field (none unknown, none dropped)
                        "only_known_fields": size == len(spec.SerializeToString()) == len(data),
                        "has_template": spec.HasField("template"),
                        "model_name": model.template.id.name,
                        "template": summarize(spec.template),
                    }
                )
            members.append(entry)
    emit({"members": members})


if __name__ == "__main__":
    main()
