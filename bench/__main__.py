"""Run the benchmarks: ``python -m bench [--quick] [NAME ...]``.

Each benchmark is a module of this package with a ``main(quick: bool) -> None`` that prints its results
(medians, and ratios to a baseline measured in the same run). Register a new one in ``BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time

_LOG = logging.getLogger(__name__)

#: name -> module under ``bench``; run in this order.
BENCHMARKS: dict[str, str] = {}


def _discover() -> None:
    """Register every ``bench/*.py`` module that has a ``main``, in name order, after the explicit ones."""
    import pkgutil

    import bench

    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in BENCHMARKS.values():
            continue
        BENCHMARKS.setdefault(info.name, info.name)


def main() -> None:
    _discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a quick look")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}")
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{BENCHMARKS[name]}")
        if not hasattr(module, "main"):
            continue
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        try:
            module.main(quick=args.quick)
        except Exception as exc:  # one benchmark's failure must not hide the others' results
            failed.append(name)
            print(f"{name} FAILED: {type(exc).__name__}: {exc}", flush=True)
        print(f"({name}: {time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
