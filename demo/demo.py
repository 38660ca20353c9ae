"""`make demo`: an SQLite3Task end to end through the real entrypoint.

Creates a sample database (200k orders), runs a parameterized query through
`shim execute` (a subprocess by default; `--runner container` runs it in the sqlite3 image)
with a local file:// object store, and prints the first rows and per-phase timings.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "demo-data"
STORE = DATA / "store"
DB = STORE / "data" / "shop.db"
ROWS = 200_000


def make_database(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    rng = random.Random(7)
    countries = ["NL", "DE", "FR", "US", "JP", "BR", "IN", "ZA"]
    con = sqlite3.connect(tmp)
    con.execute(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, country TEXT, "
        "amount REAL, items INTEGER, note TEXT)"
    )
    con.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
        (
            (
                i,
                f"customer-{rng.randrange(20_000):05d}",
                rng.choice(countries),
                round(rng.uniform(1, 500), 2),
                rng.randrange(1, 12),
                "it's a gift" if i % 97 == 0 else None,
            )
            for i in range(rows)
        ),
    )
    con.commit()
    con.close()
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--runner", default="subprocess", choices=["inprocess", "subprocess", "container"]
    )
    ap.add_argument("--country", default="NL")
    ap.add_argument("--min-amount", type=float, default=250.0)
    args = ap.parse_args()

    os.environ["SHIM_LOCAL_STORE"] = str(STORE)
    os.environ["SHIM_TIMINGS"] = "1"
    timings: list[tuple[str, float]] = []

    t = time.perf_counter()
    if not DB.exists():
        make_database(DB, ROWS)
        timings.append((f"create sample database ({ROWS:,} rows)", time.perf_counter() - t))

    t = time.perf_counter()
    from shim_sqlite3 import SQLite3Config, SQLite3Task

    orders = SQLite3Task(
        name="demo.big_orders",
        query_template=(
            "SELECT id, customer, country, amount, items, note\n"
            "FROM orders\n"
            "WHERE country = {{ .inputs.country }} AND amount >= {{ .inputs.min_amount }}\n"
            "ORDER BY amount DESC"
        ),
        inputs={"country": str, "min_amount": float},
        task_config=SQLite3Config(uri=DB.as_uri()),
    )
    timings.append(("import shimkit + define task", time.perf_counter() - t))

    if args.runner == "container":
        from shim import progress
        from shim.errors import ShimError
        from shim.images import build_image

        t = time.perf_counter()
        print(f"building image {orders.image} (cached after the first build) ...", flush=True)
        try:
            with progress.display():  # the current build step, on a terminal
                build_image("sqlite3", tag=orders.image)
        except ShimError as e:
            print(
                f"demo: {e}\nOn a machine without Docker: sudo ../shared/container-host/"
                "setup.sh --service /tmp/podman.sock; export DOCKER_HOST=unix:///tmp/podman.sock",
                file=sys.stderr,
            )
            return 1
        timings.append(("build image", time.perf_counter() - t))

    print(f"running demo.big_orders with runner={args.runner} (store: {STORE})", flush=True)
    t = time.perf_counter()
    df = orders(country=args.country, min_amount=args.min_amount, runner=args.runner)
    timings.append(
        (f"run task ({args.runner}: serialize, stage, execute, collect)", time.perf_counter() - t)
    )

    t = time.perf_counter()
    table = df.to_arrow()
    timings.append(("read results (parquet -> arrow)", time.perf_counter() - t))

    print(f"\nresults: {table.num_rows:,} rows x {table.num_columns} columns at {df.uri}")
    print(table.slice(0, 10).to_pandas().to_string(index=False))
    print("\ntimings:")
    for name, secs in timings:
        print(f"  {name:<58} {secs * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
