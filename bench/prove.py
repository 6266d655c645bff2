"""Benchmark: the fast prover against the plain whole-loss sympy.diff path, side by side.

Run from the repository root::

    python bench/prove.py

Rows: the identical-updates theorem for zero init with MSE loss on 3-4-4-2 (tanh)
by both paths, and the fast prover alone on 32-64-64-64-64-64-10 with the
abstract ``sigma`` (zero and tied init). The plain path differentiates the whole
batch loss with ``sympy.diff`` for every parameter, substitutes the point and
compares the tied pairs after ``expand``; the fast path is
``prove_identical_updates`` (layered reverse mode, structural check). Each
fast timing is the best of a few runs after one warm-up; the plain path runs once.
"""

from __future__ import annotations

import statistics
import time

import sympy as sp
from sympy.core.cache import clear_cache

from symcheck.network import Network
from symcheck.symbolic import init_point, plain_gradients
from symcheck.theorems import prove_identical_updates


def _plain_prove(network: Network) -> bool:
    point = init_point(network, "zero")
    grads = plain_gradients(network, point.params)
    ok = True
    for layer in network.hidden_layers:
        w, b = grads[layer - 1]
        w_next = grads[layer][0]
        for j in range(1, len(w)):
            pairs = [*zip(w[j], w[0]), (b[j], b[0])]
            pairs += [(row[j], row[0]) for row in w_next]
            ok &= all(sp.expand(a - c) == 0 for a, c in pairs)
    return ok


def _timings(fn, repeat: int = 3) -> tuple[float, float, float, object]:
    """(first run, median with SymPy's cache cleared before each run, best warm run, result).

    The first run pays one-off costs of the process; the cleared-cache median
    is what a proof of a new network costs once those are paid; warm runs reuse
    SymPy's cache of the very same expressions.
    """
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    cleared = []
    for _ in range(repeat):
        clear_cache()
        start = time.perf_counter()
        fn()
        cleared.append(time.perf_counter() - start)
    warm = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        warm = min(warm, time.perf_counter() - start)
    return first, statistics.median(cleared), warm, result


def main() -> int:
    small = Network.parse("3-4-4-2", activation="tanh", loss="mse")
    large = Network.parse("32-64-64-64-64-64-10", activation="sigma", loss="mse")
    rows = []
    start = time.perf_counter()
    plain_ok = _plain_prove(small)
    plain = time.perf_counter() - start
    first, cleared, warm, proof = _timings(
        lambda: prove_identical_updates(small, init="zero"), repeat=7
    )
    rows.append(("3-4-4-2 tanh zero", "plain sympy.diff", plain, plain, plain, plain_ok))
    rows.append(("3-4-4-2 tanh zero", "fast prover", first, cleared, warm, proof.proved))
    for init in ("zero", "tied"):
        c, m, t, p = _timings(lambda init=init: prove_identical_updates(large, init=init))
        rows.append((f"32-64x5-10 sigma {init}", "fast prover", c, m, t, p.proved))
    head = f"{'network':<24} {'path':<18} {'first s':>9} {'cleared s':>10} {'warm s':>9}"
    print(head + f" {'proved':>7}")
    for net, path, a, b, c, ok in rows:
        print(f"{net:<24} {path:<18} {a:>9.4f} {b:>10.4f} {c:>9.4f} {ok!s:>7}")
    print(
        f"speed-up on 3-4-4-2 (plain runs once, cold): {plain / first:,.0f}x against the first "
        f"run, {plain / cleared:,.0f}x with SymPy's cache cleared, {plain / warm:,.0f}x warm"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
