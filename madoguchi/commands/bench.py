"""``madoguchi bench AREA --json``: measured figures, one JSON object per run.

Each area is a module ``madoguchi.bench.<area>`` with ``add_arguments(parser)``
and ``run(args) -> dict``; the dict is printed as one JSON object. Figures that
depend on the machine are compared with a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from typing import Any

#: Benchmark areas; each is ``madoguchi.bench.<name>``.
BENCH_AREAS: tuple[str, ...] = ("card", "console", "pinpad", "server", "sync", "tui", "update")


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="measure an area and print JSON")
    areas = parser.add_subparsers(dest="area", metavar="AREA", required=True)
    for area in BENCH_AREAS:
        try:
            module = importlib.import_module(f"madoguchi.bench.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"madoguchi.bench.{area}":
                raise
            continue  # that area has no benchmark yet
        area_parser = areas.add_parser(area, help=(module.__doc__ or "").strip().splitlines()[0])
        area_parser.add_argument("--json", action="store_true", help="print one JSON object")
        module.add_arguments(area_parser)
        area_parser.set_defaults(func=_run, bench_module=module)


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _run(args: argparse.Namespace) -> int:
    result: dict[str, Any] = args.bench_module.run(args)
    result.setdefault("machine", machine_facts())
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, sort_keys=True)
        sys.stdout.write("\n")
    else:
        for key, value in sorted(result.items()):
            print(f"{key}: {value}")
    return 0
