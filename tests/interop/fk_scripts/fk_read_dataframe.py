"""(flytekit venv) Decode a dataframe output with flytekit's TypeEngine and print it as JSON.

usage: fk_read_dataframe.py OUTPUTS_PB NAME
Prints {"columns": [...], "dtypes": [...], "rows": [[...], ...], "literal": <scalar kind>}.
"""

import math
import sys

import pandas as pd
from _fk import emit, flyte_context, read_literal_map
from flytekit.core.type_engine import TypeEngine


def cell(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def main():
    lm = read_literal_map(sys.argv[1])
    lit = lm.literals[sys.argv[2]]
    with flyte_context() as ctx:
        df = TypeEngine.to_python_value(ctx, lit, pd.DataFrame)
    emit(
        {
            "literal": lit.to_flyte_idl().scalar.WhichOneof("value"),
            "columns": [str(c) for c in df.columns],
            "dtypes": [str(t) for t in df.dtypes],
            "rows": [[cell(v) for v in row] for row in df.itertuples(index=False)],
        }
    )


if __name__ == "__main__":
    main()
