"""Benchmark: symcheck's NumPy gradients and optimiser steps, with torch as the baseline.

Run from the repository root: ``python bench/bench_numeric.py``. For each
network it times, in the same run, one full-batch gradient with
``symcheck.numeric.gradients`` and with ``torch.autograd`` (CPU, float64, one thread each,
the same parameters), and one ``sgd``/``adam`` step of ``symcheck.optim``
against ``torch.optim``. It also checks the two gradients agree, so the
numbers compare like with like. Reported: the median of repeated timings,
also written to ``bench/results/numeric.json``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _record  # bench/ is the script's directory, hence on the path

from symcheck import Network, numeric
from symcheck.init import initialize
from symcheck.optim import get_optimizer

CASES = [("2-2-1", 4), ("32-64-64-10", 128), ("784-256-256-10", 256)]


def _median_seconds(fn: Callable[[], object], repeat: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _torch_grads(torch, params, x, y):
    tensors = [
        (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
        for w, b in params
    ]
    tx, ty = torch.tensor(x), torch.tensor(y)

    def run():
        for w, b in tensors:
            w.grad = b.grad = None
        h = tx
        for i, (w, b) in enumerate(tensors):
            h = h @ w.T + b
            if i < len(tensors) - 1:
                h = torch.tanh(h)
        loss = 0.5 * ((h - ty) ** 2).sum(dim=1).mean()
        loss.backward()
        return [(w.grad, b.grad) for w, b in tensors]

    return run, tensors


_SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def main() -> None:
    if any(os.environ.get(k) != v for k, v in _SINGLE_THREAD.items()):
        # Both sides single-threaded (a fair comparison on a shared machine);
        # BLAS reads these variables at import, so restart with them set.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_SINGLE_THREAD})
    context = _record.start()
    import torch

    torch.set_num_threads(1)
    rows = []
    print(f"numpy {np.__version__}, torch {torch.__version__}, float64, 1 torch thread")
    print(
        f"{'network':>16} {'batch':>5} | {'grad symcheck':>13} {'grad torch':>10} | "
        f"{'adam symcheck':>13} {'adam torch':>10} | max |diff|"
    )
    rng = np.random.default_rng(0)
    for spec, batch in CASES:
        net = Network.parse(spec, activation="tanh")
        params = initialize(net, "xavier_normal", rng=rng, bias=0.1)
        x = rng.standard_normal((batch, net.widths[0]))
        y = rng.standard_normal((batch, net.widths[-1]))
        ours = _median_seconds(partial(numeric.gradients, net, params, x, y))
        run, tensors = _torch_grads(torch, params, x, y)
        theirs = _median_seconds(run)
        diff = max(
            float(np.max(np.abs(g - t.numpy())))
            for (g, gb), (t, tb) in zip(numeric.gradients(net, params, x, y), run())
        )
        grads = numeric.gradients(net, params, x, y)
        opt = get_optimizer("adam", lr=1e-3)
        state = opt.init(params)
        step_ours = _median_seconds(partial(opt.step, params, grads, state))
        flat = [t for pair in tensors for t in pair]
        topt = torch.optim.Adam(flat, lr=1e-3, foreach=False)
        run()
        step_theirs = _median_seconds(topt.step)
        print(
            f"{spec:>16} {batch:>5} | {ours * 1e3:10.3f} ms {theirs * 1e3:7.3f} ms | "
            f"{step_ours * 1e3:10.3f} ms {step_theirs * 1e3:7.3f} ms | {diff:.1e}"
        )
        rows.append(
            {
                "network": spec,
                "batch": batch,
                "grad_symcheck_ms": ours * 1e3,
                "grad_torch_ms": theirs * 1e3,
                "adam_symcheck_ms": step_ours * 1e3,
                "adam_torch_ms": step_theirs * 1e3,
                "max_abs_diff": diff,
            }
        )
    _record.write("numeric", context, {"dtype": "float64", "threads": 1, "rows": rows})


if __name__ == "__main__":
    main()
