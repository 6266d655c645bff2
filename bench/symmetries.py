"""Benchmark: inferring the unit spaces of a graph (``infer_symmetries``).

Run from the repository root::

    python bench/symmetries.py [--repeat N]

Rows: building the graph (validation and shape inference) and inferring its
unit spaces, for the transformer of issue 10's structural-proof goal
(d_model 512, 8 heads, 6 layers), a 1000-layer default transformer and a
4096-layer chain. Each figure is the median over ``--repeat`` runs in one
process (the first run is included in the median; nothing is cached between
runs). Inference never touches parameter values, so its cost grows with the
number of nodes and axes, not with the parameter count.
"""

from __future__ import annotations

import argparse
import statistics
import time

from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.zoo import resolve_model

MODELS = (
    "transformer:d_model=512,heads=8,layers=6,d_ff=2048,vocab=1000,seq=16",
    "transformer:layers=1000",
    "mlp:layers=4096,hidden=64",
)


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'model':<70} {'nodes':>6} {'spaces':>6} {'build s':>8} {'infer s':>8}")
    for spec in MODELS:
        graph = resolve_model(spec)
        spaces = infer_symmetries(graph).spaces
        build = _median_seconds(lambda spec=spec: resolve_model(spec), args.repeat)
        infer = _median_seconds(lambda graph=graph: infer_symmetries(graph), args.repeat)
        print(f"{spec:<70} {len(graph.nodes):>6} {len(spaces):>6} {build:>8.3f} {infer:>8.3f}")


if __name__ == "__main__":
    main()
