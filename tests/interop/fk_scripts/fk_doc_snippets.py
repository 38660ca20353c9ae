"""(flytekit venv) Run documentation snippets and report the flytekit objects they define.

usage: fk_doc_snippets.py SNIPPET.py...
Each file runs as a script (``runpy``; flytekit needs the source file of a workflow). For
every reference task, workflow and task the snippet binds to a name, prints its kind, its id
or image and its interface as flyteidl JSON.
"""

import runpy
import sys

from _fk import emit
from flytekit.core.base_task import PythonTask
from flytekit.core.reference_entity import ReferenceEntity
from flytekit.core.workflow import WorkflowBase
from google.protobuf import json_format


def interface(obj):
    return json_format.MessageToDict(obj.interface.to_flyte_idl())


out = []
for path in sys.argv[1:]:
    for var, obj in runpy.run_path(path, run_name="snippet").items():
        if isinstance(obj, ReferenceEntity):
            ident = obj.reference.id
            out.append(
                {
                    "snippet": path,
                    "var": var,
                    "kind": "reference_task",
                    "id": [ident.project, ident.domain, ident.name, ident.version],
                    "interface": interface(obj),
                }
            )
        elif isinstance(obj, WorkflowBase):
            out.append(
                {"snippet": path, "var": var, "kind": "workflow", "interface": interface(obj)}
            )
        elif isinstance(obj, PythonTask):
            out.append(
                {
                    "snippet": path,
                    "var": var,
                    "kind": "task",
                    "type": obj.task_type,
                    "image": getattr(obj, "container_image", None),
                    "interface": interface(obj),
                }
            )
emit(out)
