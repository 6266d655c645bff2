"""Benchmark: the fast prover against the plain whole-loss sympy.diff path, side by side.

Run from the repository root::

    python bench/prove.py [--repeat N]

Rows: the identical-updates theorem for zero init with MSE loss on 3-4-4-2
(tanh) by both paths, and the fast prover alone on 32-64-64-64-64-64-10 with
the abstract ``sigma`` (zero and tied init). The fast path is timed as the
chain prover alone (``fast``: ``cross_check=False``, the "before" of the
lowering) and as it runs by default (``fast + cross-check``: with the
structural proof on the lowered graph, :mod:`symcheck.graph.crosscheck`).
On 32-64x5-10 the same proof also runs on the lowered graph
(:func:`symcheck.graph.lower.lower`, lowering included in the time), the
"after": ``graph, structural`` and ``graph, computational``
(:func:`symcheck.graph.prove.prove_identical_updates` with that ``kind``).
The computational proof refuses graphs of more than
``MAX_COMPUTATIONAL_PARAMETERS`` entries (2000, a safety limit); this
19,402-entry graph is measured with the limit lifted for that row only.
The plain path differentiates the
whole batch loss with ``sympy.diff`` for every parameter, substitutes the point
and compares the tied pairs after ``expand``. It runs twice: substituting with
``subs`` (the textbook way; run once per column) and with ``xreplace`` (the
package's own plain path, about 5x faster, and the baseline the speed-up
target is judged against); the fast path is ``prove_identical_updates``
(layered reverse mode, structural check).

Both paths are timed by the same protocol, in this order:

``first``
    the path's first run in the process, after clearing SymPy's cache so that
    nothing carries over from the path timed before it (the first path timed
    also pays SymPy's own one-off costs); for the fast path this includes
    deriving the local derivatives of tanh and the MSE loss; for the graph
    paths the caches of ``new act+loss`` are cleared too;
``new network``
    median over ``--repeat`` runs with SymPy's cache cleared before each: the
    cost of proving a network never seen before;
``new act+loss``
    (fast and graph paths) median with SymPy's cache *and* the fast path's
    table of local derivatives, the graph loss kernel's derivatives and the
    structural proof's cache of op certificates cleared: a network whose
    activation and loss have not been used before in this process, so
    ``sympy.diff`` of the local maps runs again (the graph activation
    kernel's derivative of ``sigma`` stays cached);
``warm``
    best of ``--repeat`` runs proving the very same network again.

Each timed run runs with the cyclic GC off, as ``timeit`` does: with it on,
every other cache-cleared fast run paid for collecting the cleared cache
(about 1.5 ms vs 5.5 ms in one run). A full ``gc.collect()`` before each run
is not done either: it evicts the CPU caches and made the fast runs about
1.6x slower, while the plain path's seconds do not notice.

The speed-up lines divide the plain path's figure by the fast path's, column
by column (``new act+loss`` by the plain path's ``new network``, which has no
table of local derivatives to clear). The figures are also written to
``bench/results/prove.json``.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _record  # bench/ is the script's directory, hence on the path
from sympy.core.cache import clear_cache

from symcheck.graph import evidence
from symcheck.graph.kernels import loss as graph_loss
from symcheck.graph.lower import lower
from symcheck.graph.prove import prove_identical_updates as prove_on_graph
from symcheck.model.network import Network
from symcheck.prove.symbolic import clear_local_derivatives, init_point, plain_gradients
from symcheck.prove.theorems import prove_identical_updates


def _plain_prove(network: Network, substitute: str = "xreplace") -> bool:
    point = init_point(network, "zero")
    grads = plain_gradients(network, point.params, substitute=substitute)
    ok = True
    for layer in network.hidden_layers:
        w, b = grads[layer - 1]
        w_next = grads[layer][0]
        for j in range(1, len(w)):
            pairs = [*zip(w[j], w[0]), (b[j], b[0])]
            pairs += [(row[j], row[0]) for row in w_next]
            ok &= all(sp.expand(a - c) == 0 for a, c in pairs)
    return ok


def _time(fn: Callable[[], object], before: Callable[[], None] | None = None) -> float:
    """Seconds of one run of ``fn``; as ``timeit`` does, the cyclic GC is off while timing."""
    if before is not None:
        before()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def _clear_all() -> None:
    clear_cache()
    clear_local_derivatives()
    graph_loss._symbolic.cache_clear()
    evidence._OP_CACHE.clear()


def _timings(
    fn: Callable[[], object], repeat: int, fast: bool, *, graph: bool = False
) -> dict[str, float]:
    """Seconds for each column of the protocol (see the module docstring); NaN when n/a.

    Every run's result must be a proof (``True`` or a proved ``Proof``).
    """

    def checked() -> None:
        result = fn()
        if not getattr(result, "proved", result):
            raise SystemExit(f"benchmark run did not prove: {result!r}")

    out = {"first": _time(checked, _clear_all if graph else clear_cache)}
    out["new network"] = statistics.median(_time(checked, clear_cache) for _ in range(repeat))
    out["new act+loss"] = (
        statistics.median(_time(checked, _clear_all) for _ in range(repeat))
        if fast
        else float("nan")
    )
    out["warm"] = min(_time(checked) for _ in range(repeat))
    return out


COLUMNS = ("first", "new network", "new act+loss", "warm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="fast-path runs per column")
    parser.add_argument("--plain-repeat", type=int, default=2, help="plain-path runs per column")
    args = parser.parse_args(argv)
    context = _record.start()
    small = Network.parse("3-4-4-2", activation="tanh", loss="mse")
    large = Network.parse("32-64-64-64-64-64-10", activation="sigma", loss="mse")
    textbook = _timings(lambda: _plain_prove(small, "subs"), 1, fast=False)
    plain = _timings(lambda: _plain_prove(small), args.plain_repeat, fast=False)
    fast = _timings(
        lambda: prove_identical_updates(small, init="zero", cross_check=False),
        args.repeat,
        fast=True,
    )
    checked = _timings(lambda: prove_identical_updates(small, init="zero"), args.repeat, fast=True)
    rows = [
        ("3-4-4-2 tanh zero", "plain, subs", textbook),
        ("3-4-4-2 tanh zero", "plain, xreplace", plain),
        ("3-4-4-2 tanh zero", "fast", fast),
        ("3-4-4-2 tanh zero", "fast + cross-check", checked),
    ]
    large_rows = {
        "fast": lambda init: prove_identical_updates(large, init=init, cross_check=False),
        "fast + cross-check": lambda init: prove_identical_updates(large, init=init),
        "graph, structural": lambda init: prove_on_graph(
            lower(large).graph, init=init, kind="structural"
        ),
        "graph, computational": lambda init: prove_on_graph(
            lower(large).graph, init=init, kind="computational"
        ),
    }
    limit = evidence.MAX_COMPUTATIONAL_PARAMETERS
    for init in ("zero", "tied"):
        for path, run in large_rows.items():
            if path == "graph, computational":  # lift the safety limit for this row only
                evidence.MAX_COMPUTATIONAL_PARAMETERS = large.parameter_count
            try:
                t = _timings(
                    lambda run=run, init=init: run(init), 3, fast=True, graph=path != "fast"
                )
            finally:
                evidence.MAX_COMPUTATIONAL_PARAMETERS = limit
            rows.append((f"32-64x5-10 sigma {init}", path, t))
    print(f"{'network':<22} {'path':<21}" + "".join(f"{c + ' s':>15}" for c in COLUMNS))
    for net, path, t in rows:
        print(f"{net:<22} {path:<21}" + "".join(f"{t[c]:>15.5f}" for c in COLUMNS))
    ratios = ", ".join(f"{plain[c] / fast[c]:,.0f}x {c}" for c in ("first", "new network", "warm"))
    ratios += f", {plain['new network'] / fast['new act+loss']:,.0f}x new act+loss"
    print(f"speed-up on 3-4-4-2 (plain with xreplace / fast): {ratios}")
    textbook_ratios = ", ".join(
        f"{textbook[c] / fast[c]:,.0f}x {c}" for c in ("first", "new network")
    )
    print(f"speed-up on 3-4-4-2 (plain with subs / fast): {textbook_ratios}")
    by = {(net, path): t for net, path, t in rows}
    for init in ("zero", "tied"):
        before = by[(f"32-64x5-10 sigma {init}", "fast")]["new network"]
        after = ", ".join(
            f"{path} {by[(f'32-64x5-10 sigma {init}', path)]['new network'] / before:.2g}x"
            for path in large_rows
            if path != "fast"
        )
        print(f"32-64x5-10 sigma {init}, new network, after / before (chain prover): {after}")
    print("every run proved the theorem (checked run by run)")
    figures = {
        "repeat": args.repeat,
        "plain_repeat": args.plain_repeat,
        "rows": [
            {"network": net, "path": path, **{c: (None if math.isnan(t[c]) else t[c]) for c in t}}
            for net, path, t in rows
        ],
    }
    _record.write("prove", context, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
