"""Benchmark: the graph theorems, structural on a large transformer, computational on a small one.

Run from the repository root::

    python bench/prove_graph.py [--repeat N]

Rows (goals from the issue in brackets):

* structural proof of identical updates and of Adam preservation at zero init
  for ``transformer:d_model=512,heads=8,layers=6`` (< 5 s): the op-by-op
  equivariance certificates (cached per op, attributes, axis structure and generator, so the six
  layers share them), the tie certificates on the 6.4 M-entry parameter point,
  and the optimiser's equivariance. ``cold`` is the first run in the process
  (empty op cache), ``warm`` the best of ``--repeat`` further runs.
* the same structural proof of identical updates for the model WITH rotary
  position embeddings (``rope=1``: head_dim 64, whose query-key dims rope
  fixes while the value-output dims still permute). ``--only rope`` runs just
  this row and prints it without writing ``bench/results/``.
* computational proof of identical updates for a one-block transformer with
  ``d_model`` 8, 2 heads and ``seq`` 3 (< 30 s): exact SymPy gradients and
  zero tests at zero and at constant init (a free symbol ``c``), and the
  refutation of random init by a certified witness; median of ``--repeat``.

Timings are wall-clock seconds on this machine (``time.perf_counter``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import _record  # bench/ is the script's directory, hence on the path

from symcheck.graph.prove import prove_identical_updates, prove_preserved

LARGE = "transformer:d_model=512,heads=8,layers=6"
LARGE_ROPE = f"{LARGE},rope=1"
SMALL = "transformer:d_model=8,heads=2,seq=3,layers=1"


def _timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    context = _record.start()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", choices=("all", "rope"), default="all", help="rope: only the rope row, unrecorded"
    )
    args = parser.parse_args()
    structural: list[dict] = []
    computational: list[dict] = []

    print(f"structural proofs, {LARGE}, init zero")
    rows: list[tuple[str, Callable[[], object]]] = [
        ("identical updates", lambda: prove_identical_updates(LARGE, kind="structural")),
        (
            "adam preserves ties",
            lambda: prove_preserved(LARGE, optimizer="adam", kind="structural"),
        ),
        (
            "identical updates, rope=1",
            lambda: prove_identical_updates(LARGE_ROPE, kind="structural"),
        ),
    ]
    if args.only == "rope":
        rows = rows[-1:]
    for label, run in rows:
        cold, proof = _timed(run)
        warm = min(_timed(run)[0] for _ in range(args.repeat))
        facts = proof.facts  # type: ignore[attr-defined]
        print(
            f"  {label:22s} {proof.verdict:8s} cold {cold:6.2f} s  warm {warm:6.2f} s  "  # type: ignore[attr-defined]
            f"({facts['structural_op_checks']} op checks, "
            f"{facts['structural_op_checks_distinct']} distinct)  goal < 5 s"
        )
        structural.append(
            {"theorem": label, "verdict": proof.verdict, "cold_s": cold, "warm_s": warm}
        )  # type: ignore[attr-defined]

    if args.only != "all":
        return
    print(f"computational proofs, {SMALL}")
    for init in ("zero", "constant", "random"):
        times, verdict = [], ""
        for _ in range(args.repeat):
            seconds, proof = _timed(
                lambda init=init: prove_identical_updates(SMALL, init=init, kind="computational")
            )
            times.append(seconds)
            verdict = proof.verdict  # type: ignore[attr-defined]
        print(
            f"  init {init:9s} {verdict:8s} median {statistics.median(times):6.2f} s  "
            f"(max {max(times):.2f} s)  goal < 30 s"
        )
        computational.append(
            {
                "init": init,
                "verdict": verdict,
                "median_s": statistics.median(times),
                "max_s": max(times),
            }
        )
    _record.write(
        "prove_graph",
        context,
        {"large": LARGE, "small": SMALL, "structural": structural, "computational": computational},
    )


if __name__ == "__main__":
    main()
