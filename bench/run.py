"""One entry point for affix's benchmarks: `python -m bench.run [NAME...] [-n N]`.

Each benchmark module in BENCHES has `run(n: int | None) -> list[Row]` (and may have QUICK_N,
the size `--quick` asks for); this prints one table
of rows `name | affix | baseline | ratio` (ratio = affix / baseline: below 1 is better for
times, above 1 is better for rates; each row's name says which it is).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (_ROOT, os.path.join(_ROOT, "src")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# benchmark name -> module (other areas add theirs here)
BENCHES: dict[str, str] = {
    "tables": "bench.tables",
    "smtpd": "bench.smtpd",
    "e2e": "bench.e2e",
}


@dataclass(frozen=True)
class Row:
    name: str
    affix: float
    baseline: float | None  # None when there is no baseline to compare with

    @property
    def ratio(self) -> float | None:
        return self.affix / self.baseline if self.baseline else None


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def print_table(rows: list[Row]) -> None:
    cells = [("name", "affix", "baseline", "ratio")]
    cells += [(r.name, _fmt(r.affix), _fmt(r.baseline), _fmt(r.ratio)) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    for n, c in enumerate(cells):
        print(" | ".join(c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i])
                         for i in range(4)))
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.run")
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of "
                                              f"{', '.join(BENCHES)})")
    ap.add_argument("-n", type=int, default=None, help="problem size (each bench's default "
                                                       "when omitted; smaller = quicker)")
    ap.add_argument("--quick", action="store_true", help="each bench's QUICK_N problem size "
                                                         "(where it has one): a quick look")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHES)}")
    rows: list[Row] = []
    for name in args.names or list(BENCHES):
        module = importlib.import_module(BENCHES[name])
        n = args.n if args.n or not args.quick else getattr(module, "QUICK_N", None)
        rows += module.run(n)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
