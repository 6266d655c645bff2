"""Write a benchmark's figures, with the date and the machine, to ``bench/results/<name>.json``.

Every script under ``bench/`` calls :func:`start` before it measures (so the
load average is the one the run started under) and :func:`write` at the end;
``python bench/report.py --write`` renders the files into README.md and docs/.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("numpy", "sympy", "scipy", "torch", "safetensors")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def start() -> dict[str, Any]:
    """The run's context, taken before measuring: date, machine, versions, load."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {p: v for p in PACKAGES if (v := _version(p)) is not None},
        "load_average": [round(x, 2) for x in load],
    }


def write(name: str, context: dict[str, Any], figures: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json``: the command, the context and the figures."""
    RESULTS.mkdir(exist_ok=True)
    command = " ".join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    record = {"benchmark": name, "command": command, "machine": context, "figures": figures}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(RESULTS.parent.parent)}")
    return path
