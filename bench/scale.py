"""Gaussian expectations: Gauss–Hermite and composite quadrature against Monte Carlo.

For each activation moment and variance q, one run measures side by side the
absolute error (against mpmath at 30 digits, or the exact value where one is
known) and the time per evaluation of

* ``hermite``: Gauss–Hermite, 200 nodes (symcheck.measure.gaussian);
* ``composite``: composite 16-point Gauss–Legendre (symcheck.measure.gaussian);
* ``monte carlo``: the mean over 10^6 standard-normal draws, the baseline a
  quick script would use.

It also times one scale diagnosis of a 256-wide, 20-layer tanh network.

    python bench/scale.py [--repeat 20]

The figures are also written to ``bench/results/scale.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import mpmath
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _record  # bench/ is the script's directory, hence on the path

from symcheck.measure.diagnose import diagnose_init
from symcheck.measure.gaussian import MOMENTS, gaussian_expectation
from symcheck.model.activations import get_activation
from symcheck.model.network import Network

mpmath.mp.dps = 30

CASES: dict[str, tuple[str, str, Callable[[mpmath.mpf], mpmath.mpf]]] = {
    "tanh^2": ("tanh", "second", lambda u: mpmath.tanh(u) ** 2),
    "tanh'^2": ("tanh", "derivative", lambda u: mpmath.sech(u) ** 4),
    "sigmoid^2": ("sigmoid", "second", lambda u: 1 / (1 + mpmath.exp(-u)) ** 2),
    "relu^2": ("relu", "second", lambda u: max(u, 0) ** 2),
}
QS = (0.01, 1.0, 10.0, 1000.0)


def _reference(f: Callable[[mpmath.mpf], mpmath.mpf], q: float) -> float:
    s = mpmath.sqrt(q)
    points = [-mpmath.inf, -10 / s, -1 / s, 0, 1 / s, 10 / s, mpmath.inf]
    return float(mpmath.quad(lambda z: f(s * z) * mpmath.npdf(z), points))


def _uncached(act: str, kind: str, q: float, rule: str) -> float:
    return gaussian_expectation(MOMENTS[kind].numeric(get_activation(act)), q, rule=rule)


def _monte_carlo(f: Callable[[np.ndarray], np.ndarray], q: float, draws: np.ndarray) -> float:
    return float(np.mean(f(np.sqrt(q) * draws)))


def _time(fn: Callable[[], float], repeat: int) -> tuple[float, float]:
    value = fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return value, (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    context = _record.start()
    rows = []
    rng = np.random.default_rng(0)
    print(
        f"{'moment':>10} {'q':>7} | {'hermite err':>11} {'us':>6} | "
        f"{'composite err':>13} {'us':>6} | {'monte carlo err':>15} {'us':>8}"
    )
    for label, (act, kind, f) in CASES.items():
        for q in QS:
            exact = _reference(f, q)
            row = [f"{label:>10} {q:>7g}"]
            record: dict[str, object] = {"moment": label, "q": q}
            for rule in ("hermite", "composite"):
                value, seconds = _time(partial(_uncached, act, kind, q, rule), args.repeat)
                row.append(f"{abs(value - exact):>11.1e} {seconds * 1e6:>6.0f}")
                record[f"{rule}_err"], record[f"{rule}_us"] = abs(value - exact), seconds * 1e6
            draws = rng.standard_normal(1_000_000)
            f_num = MOMENTS[kind].numeric(get_activation(act))
            value, seconds = _time(partial(_monte_carlo, f_num, q, draws), 3)
            row.append(f"{abs(value - exact):>15.1e} {seconds * 1e6:>8.0f}")
            record["monte_carlo_err"], record["monte_carlo_us"] = abs(value - exact), seconds * 1e6
            rows.append(record)
            print(" | ".join(row))
    net = Network((256,) * 21 + (1,), "tanh")
    start = time.perf_counter()
    d = diagnose_init(net, "lecun_normal", rng=np.random.default_rng(0), samples=256)
    seconds = time.perf_counter() - start
    print(
        f"diagnosis of {net.spec[:24]}... (20 hidden layers of 256, 256 samples): "
        f"{seconds:.2f} s, verdict {d.verdict}"
    )
    diagnosis = {"network": "256x21-1 tanh, lecun_normal, 256 samples", "seconds": seconds}
    diagnosis["verdict"] = d.verdict
    figures = {"repeat": args.repeat, "monte_carlo_draws": 1_000_000, "rows": rows}
    _record.write("scale", context, {**figures, "diagnosis": diagnosis})


if __name__ == "__main__":
    main()
