"""Benchmark: the proof cost model of ``symcheck.limits`` against measured proof times.

Run from the repository root::

    python bench/proof_cost.py [--budget SECONDS]

For each family (init, activation, hidden width) the identical-updates proof
runs on deeper and deeper nets, with the cost limit lifted, until one run
exceeds ``--budget`` (default 12 s; a run is stopped there by SIGALRM). Each
row prints the family, the number of hidden layers, the model's cost, whether
the default limit admits it, and the wall time (or the error that ended the
family). These rows are the calibration that the docstring of
``symcheck/limits.py`` quotes.
"""

from __future__ import annotations

import argparse
import signal
import time

from symcheck import Network, prove_identical_updates
from symcheck import limits as limits_module
from symcheck.prove import symbolic
from symcheck.prove.symbolic import estimated_proof_cost, init_point

FAMILIES = (
    ("tied", "tanh", 2),
    ("random", "tanh", 2),
    ("tied", "leaky_relu", 2),
    ("tied", "relu", 2),
    ("random", "relu", 2),
    ("tied", "sigma", 2),
    ("tied", "tanh", 8),
    ("random", "tanh", 4),
)


class _Stop(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=12.0)
    args = parser.parse_args()
    limit = limits_module.LIMITS.proof_cost
    symbolic.check_proof_cost = lambda *a, **k: None  # measure beyond the limit too
    import symcheck.prove.theorems as theorems

    theorems.check_proof_cost = symbolic.check_proof_cost
    signal.signal(signal.SIGALRM, _stop)
    print(f"{'init':8} {'activation':11} {'width':>5} {'hidden':>6} {'cost':>9} admitted  seconds")
    for init, activation, width in FAMILIES:
        for hidden in range(1, 30):
            net = Network.parse(
                "-".join([str(width)] * (hidden + 1) + ["1"]), activation=activation
            )
            cost = estimated_proof_cost(net, init_point(net, init))
            signal.setitimer(signal.ITIMER_REAL, args.budget)
            start = time.perf_counter()
            try:
                prove_identical_updates(net, init=init)
                seconds = f"{time.perf_counter() - start:7.2f}"
            except _Stop:
                seconds = f"> {args.budget:g}"
            except ValueError as exc:  # e.g. a witness too long to print (int digit limit)
                seconds = f"> failed: {type(exc).__name__}: {str(exc)[:40]}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            admitted = "yes" if cost <= limit else "no"
            print(f"{init:8} {activation:11} {width:5} {hidden:6} {cost:9} {admitted:8}  {seconds}")
            if seconds.startswith(">"):
                break


if __name__ == "__main__":
    main()
