"""The benchmark figures the README quotes are the ones in the committed bench/RESULTS.md.

The README's comparison table quotes times (``0.093 s``), memory (``117 MiB``), module
counts and ratios (``0.42x``, ``0.89-1.06x``, written with the multiplication
sign and an en dash). Each of them must be copied from
bench/RESULTS.md, and figures quoted together must come from one row there: the flytekit
time, the shimkit time and their ratio of a README row are one RESULTS.md row (so a ratio
cannot be copied from a neighbouring row, as ``0.39x`` once was). A range of ratios spans
exactly the ratios of one RESULTS.md table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMES = "\u00d7"  # the ratio sign of both files
DASH = "\u2013"  # a range: 0.89<DASH>1.06<TIMES>
NUM = r"\d+(?:\.\d+)?"
#: a figure in the README: a value with its unit, a ratio in parentheses right after it
README_FIGURE = re.compile(
    rf"(?P<a>{NUM})(?:{DASH}(?P<b>{NUM}))?\s*(?P<unit>{TIMES}|s\b|MiB\b|modules\b)"
    rf"(?:\s*\((?P<ratio>{NUM}){TIMES}\))?"
)
CELL_FIGURE = re.compile(rf"^(?P<v>{NUM})\s*(?P<unit>{TIMES}|s|MiB|MiB/s)?(?=$|[\s,(])")


@dataclass(frozen=True)
class Figure:
    value: str
    unit: str  # "s", "MiB", TIMES, "" (a count)


def results_tables(text: str) -> list[list[list[str]]]:
    """The tables of RESULTS.md: rows of cells (header and rule lines dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            continue
        if current is None:
            current = []
            tables.append(current)  # the first row is the header; kept, it holds no figures
        current.append(cells)
    return tables


def row_figures(cells: list[str]) -> set[Figure]:
    found = set()
    for cell in cells[1:]:
        m = CELL_FIGURE.match(cell.replace("**", ""))
        if m:
            found.add(Figure(m["v"], m["unit"] or ""))
    return found


def readme_figures(text: str) -> list[tuple[str, list[Figure], tuple[str, str] | None]]:
    """(README row, figures that must share one RESULTS.md row, ratio range or None)."""
    start = text.index("What it does better than the reference")
    table = text[start : text.index("\n## ", start)]
    out = []
    for line in table.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        groups: dict[str, list[Figure]] = {}
        for m in README_FIGURE.finditer(line):
            unit = {"modules": ""}.get(m["unit"], m["unit"])
            if m["b"]:  # a range of ratios
                out.append((line, [], (m["a"], m["b"])))
                continue
            groups.setdefault(unit, []).append(Figure(m["a"], unit))
            if m["ratio"]:
                groups[unit].append(Figure(m["ratio"], TIMES))
        out += [(line, figs, None) for figs in groups.values()]
    return out


def test_readme_figures_are_copied_from_results() -> None:
    readme = (REPO / "README.md").read_text()
    tables = results_tables((REPO / "bench" / "RESULTS.md").read_text())
    rows = [row for table in tables for row in table]
    quoted = readme_figures(readme)
    assert sum(len(f) for _, f, _ in quoted) >= 10, "the README's figures were not found"
    problems = []
    for line, figures, span in quoted:
        if span is not None:
            lo, hi = span
            ratio_tables = [
                sorted(float(f.value) for r in t for f in row_figures(r) if f.unit == TIMES)
                for t in tables
            ]
            if not any(r and (r[0], r[-1]) == (float(lo), float(hi)) for r in ratio_tables):
                problems.append(
                    f"{lo}{DASH}{hi}{TIMES} is not the range of one table's ratios ({line})"
                )
            continue
        if not any(set(figures) <= row_figures(row) for row in rows):
            shown = ", ".join(
                f"{f.value}{' ' if f.unit not in (TIMES, '') else ''}{f.unit}" for f in figures
            )
            problems.append(f"[{shown}] are not together in one row of bench/RESULTS.md ({line})")
    assert not problems, "README figures differ from bench/RESULTS.md:\n" + "\n".join(problems)


def test_the_checker_catches_a_stale_or_mismatched_figure() -> None:
    """Built from the committed RESULTS.md, whatever its figures: a shimkit time with its
    ratio as one of its rows has them passes; the same time with another row's ratio, or a
    time that is in no row, does not."""
    results = (REPO / "bench" / "RESULTS.md").read_text()
    rows = [r for t in results_tables(results) for r in t]
    quoted = []  # (time, ratio) of rows that have both
    for r in rows:
        figs = row_figures(r)
        times = sorted(f.value for f in figs if f.unit == "s")
        ratios = sorted(f.value for f in figs if f.unit == TIMES)
        if times and ratios:
            quoted.append((times[0], ratios[0], figs))
    assert quoted, "RESULTS.md has no row with a time and a ratio"
    time_, ratio, figs = quoted[0]
    ((_, good, _),) = [q for q in readme_figures(_row(f"{time_} s ({ratio}{TIMES})")) if q[1]]
    assert any(set(good) <= row_figures(r) for r in rows)
    other = next((q for q in quoted if Figure(q[1], TIMES) not in figs), None)
    assert other is not None, "every row has the same ratio: nothing to mismatch"
    unknown = f"{float(time_) + 1000:.3f}"
    for stale in (f"{time_} s ({other[1]}{TIMES})", f"{unknown} s ({ratio}{TIMES})"):
        ((_, bad, _),) = [q for q in readme_figures(_row(stale)) if q[1]]
        assert not any(set(bad) <= row_figures(r) for r in rows), stale


def _row(cell: str) -> str:
    return f"What it does better than the reference\n\n| x | {cell} |\n\n## next\n"
