"""Client-side S3 operations of the large-data benchmark, each timed inside a fresh process.

``python s3_ops.py OP SRC DST`` prints ``{"seconds": ..., "bytes": ...}``. OPs:
``s3fs-put`` / ``s3fs-get`` (s3fs called directly, default settings), ``shim-get-file``
(``File(url).download()``), ``shim-get-frame`` (``DataFrame(uri).schema``: downloads the
dataset, then reads the parquet footer). Each is timed from before its imports to the end
of the transfer. The S3 endpoint and keys come from the environment
(``FLYTE_AWS_*``), as for the entrypoint.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _s3fs():
    import s3fs

    return s3fs.S3FileSystem(
        endpoint_url=os.environ["FLYTE_AWS_ENDPOINT"],
        key=os.environ["FLYTE_AWS_ACCESS_KEY_ID"],
        secret=os.environ["FLYTE_AWS_SECRET_ACCESS_KEY"],
    )


def main() -> None:
    op, src, dst = sys.argv[1:4]
    t0 = time.perf_counter()  # both sides: import, client set-up and the transfer itself
    if op.startswith("s3fs"):
        fs = _s3fs()
        if op == "s3fs-put":
            fs.put(src, dst)
            size = os.path.getsize(src)
        else:
            fs.get(src, dst)
            size = os.path.getsize(dst)
    else:
        from shim import DataFrame, File
        from shim.types import TransferContext

        ctx = TransferContext(scratch_dir=Path(dst))
        if op == "shim-get-file":
            local = File(src, ctx=ctx).download()
            size = local.stat().st_size
        else:
            df = DataFrame(src, ctx=ctx)
            _ = df.schema
            size = sum(p.stat().st_size for p in Path(dst).rglob("*") if p.is_file())
    print(json.dumps({"seconds": time.perf_counter() - t0, "bytes": size}))


if __name__ == "__main__":
    main()
