"""Benchmark: ``symcheck audit`` on a 100-million-parameter MLP against the I/O floor.

Builds a sequential MLP weight file (float32 safetensors, 4096-wide hidden
layers, about 100 M parameters) in a temporary directory that is deleted
afterwards, and times, side by side in one run:

* floor: ``safetensors.numpy.load_file`` and ``numpy.sum`` of every tensor;
* audit: ``symcheck.audit.audit_file`` (safe load, ties, coarsest equitable
  partition, nearest pairs), the same work the command does;
* for scale, the naive alternative (comparing every pair of neurons),
  extrapolated from a sample of 64 neurons per layer on the zero file;
* the peer: WeightWatcher (``weightwatcher.WeightWatcher(model=DIR).analyze()``,
  spectral statistics per layer) on the same file, once, in a fresh child
  process, next to the floor and the audit in fresh child processes too: wall
  time and the child's own peak RSS (``bench/_child.py``). Where
  WeightWatcher does not import, the results say so (its error line); it is
  not a dependency of symcheck (``pip install weightwatcher`` to compare).

Two files are measured: random (Kaiming-style) weights, every layer full
width, and zero weights, every layer collapsed (the verification path).
Target: the audit within 3x of the floor. Run from the repository root:
``PYTHONPATH=. python bench/audit.py`` (medians of ``--repeat`` interleaved runs).
The figures are also written to ``bench/results/audit.json``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _record  # bench/ is the script's directory, hence on the path
from _child import measure

from symcheck.audit import audit_file

TARGET = 3.0


#: Each contender in a fresh interpreter, on ``sys.argv[1]`` (the directory
#: holding ``model.safetensors``); prints one summary line.
_CHILDREN = {
    "floor": """
import sys, numpy as np
from safetensors.numpy import load_file
print(float(sum(np.sum(t) for t in load_file(sys.argv[1] + "/model.safetensors").values())))
""",
    "symcheck": """
import sys
from symcheck.audit import audit_file
print(audit_file(sys.argv[1] + "/model.safetensors").exit_code)
""",
    "weightwatcher": """
import sys, logging
logging.disable(logging.WARNING)
import weightwatcher as ww
details = ww.WeightWatcher(model=sys.argv[1]).analyze()
warnings = details["warning"].value_counts().to_dict() if "warning" in details else {}
print(f"{len(details)} layers analysed; warnings {warnings}")
""",
}


def _child(name: str, folder: Path, timeout: float) -> dict[str, object]:
    """Wall time, own peak RSS and summary line of one contender, or its error line."""
    return {"name": name, **measure(_CHILDREN[name], str(folder), timeout=timeout)}


def _describe(child: dict[str, object]) -> str:
    if "error" in child:
        return f"{child['name']} (fresh process): no result: {child['error']}"
    rss = int(child["peak_rss_bytes"]) / 1e6  # type: ignore[call-overload]
    return (
        f"{child['name']} (fresh process): {child['wall_s']:.2f} s, peak RSS {rss:.0f} MB; "
        f"{child['output']}"
    )


def _build(path: Path, widths: list[int], *, zero: bool) -> int:
    rng = np.random.default_rng(0)
    tensors = {}
    for k, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        if zero:
            w = np.zeros((n_out, n_in), dtype=np.float32)
        else:
            w = rng.standard_normal((n_out, n_in), dtype=np.float32)
            w *= np.float32(np.sqrt(2.0 / n_in))
        tensors[f"{2 * k}.weight"] = w
        tensors[f"{2 * k}.bias"] = np.zeros(n_out, dtype=np.float32)
    save_file(tensors, str(path))
    return sum(t.size for t in tensors.values())


def _floor(path: Path) -> float:
    return float(sum(np.sum(t) for t in load_file(str(path)).values()))


def _audit(path: Path) -> int:
    return audit_file(path).exit_code


def _naive_estimate(path: Path, sample: int = 64) -> float:
    """Seconds that comparing every pair of neurons would take, extrapolated.

    Times the all-pairs comparison of incoming rows and outgoing columns for
    ``sample`` neurons of every hidden layer and scales by the number of pairs.
    """
    tensors = load_file(str(path))
    weights = [tensors[k] for k in sorted((k for k in tensors if k.endswith("weight")), key=_key)]
    total = 0.0
    for w, w_next in itertools.pairwise(weights):
        n = w.shape[0]
        start = time.perf_counter()
        for i in range(sample):
            for j in range(i + 1, sample):
                _ = np.array_equal(w[i], w[j]) and np.array_equal(w_next[:, i], w_next[:, j])
        elapsed = time.perf_counter() - start
        total += elapsed * (n * (n - 1) / 2) / (sample * (sample - 1) / 2)
    return total


def _key(name: str) -> int:
    return int(name.split(".")[0])


def _time(fn: Callable[[Path], object], path: Path, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=6, help="number of hidden layers")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--peer-timeout", type=float, default=1800.0, help="seconds allowed to each child process"
    )
    args = parser.parse_args()
    context = _record.start()
    rows: list[dict[str, object]] = []
    naive = float("nan")
    widths = [args.width] * (args.hidden + 1) + [10]
    print(f"MLP widths {widths[0]}x{args.hidden + 1}-{widths[-1]}, float32 safetensors")
    header = f"{'file':8} {'params':>12} {'floor s':>9} {'audit s':>9} {'ratio':>7}"
    print(f"{header}  target <= {TARGET}x")
    with tempfile.TemporaryDirectory() as folder:
        for zero in (False, True):
            # WeightWatcher reads a directory holding *model*.safetensors.
            directory = Path(folder) / ("zero" if zero else "random")
            directory.mkdir()
            path = directory / "model.safetensors"
            count = _build(path, widths, zero=zero)
            _floor(path)  # warm the page cache for both contenders
            floor, audit = [], []
            for _ in range(args.repeat):  # interleaved, so drift hits both
                floor += _time(_floor, path, 1)
                audit += _time(_audit, path, 1)
            f, a = statistics.median(floor), statistics.median(audit)
            name = "zero" if zero else "random"
            print(f"{name:8} {count:>12,} {f:>9.3f} {a:>9.3f} {a / f:>6.2f}x")
            children = [_child(c, directory, args.peer_timeout) for c in _CHILDREN]
            for c in children:
                print("  " + _describe(c))
            row = {"file": name, "parameters": count, "floor_s": f, "audit_s": a}
            rows.append({**row, "children": children})
            if zero:  # identical rows: every comparison runs to the end
                naive = _naive_estimate(path)
                print(f"all-pairs comparison of neurons (extrapolated): {naive:.0f} s")
            path.unlink()
    spec = f"{widths[0]}x{args.hidden + 1}-{widths[-1]} float32 safetensors MLP"
    figures = {"model": spec, "repeat": args.repeat, "target_ratio": TARGET, "rows": rows}
    peer = _record._version("weightwatcher")  # None: not installed (the rows say why)
    figures |= {"all_pairs_extrapolated_s": naive, "weightwatcher_version": peer}
    _record.write("audit", context, figures)


if __name__ == "__main__":
    main()
