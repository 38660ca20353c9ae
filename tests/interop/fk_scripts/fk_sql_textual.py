"""(flytekit venv) Render SQL query templates the way flytekit's SQLTask does.

usage: fk_sql_textual.py CASES_JSON OUT_JSON
CASES_JSON holds ``[[template, {input: value}], ...]``; OUT_JSON gets, per case,
``["ok", query]`` or ``["ValueError"]`` from ``SQLTask.get_query(**values)``.
"""

import json
import sys

from flytekit import kwtypes
from flytekit.core.base_sql_task import SQLTask

out = []
with open(sys.argv[1]) as f:
    cases = json.load(f)
for i, (tpl, values) in enumerate(cases):
    try:
        task = SQLTask(
            name=f"t{i}",
            query_template=tpl,
            inputs=kwtypes(**{k: type(v) for k, v in values.items()}),
        )
        out.append(["ok", task.get_query(**values)])
    except ValueError:
        out.append(["ValueError"])
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
