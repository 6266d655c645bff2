"""Benchmark: symcheck's two NumPy engines next to PyTorch, forward, backward and Adam.

Run from the repository root: ``python bench/bench_numeric.py [--rounds N]``.
For each fully connected tanh network (mse loss, float64, one thread
everywhere, the same parameters and data on every side) it times, in the
same run:

* ``forward``: the graph engine (:func:`symcheck.graph.evaluate.forward` on
  :func:`symcheck.graph.zoo.chain_graph`), the chain engine
  (:func:`symcheck.measure.numeric.forward`) and torch under ``no_grad``;
* ``forward+backward``: the loss and every parameter gradient
  (:func:`symcheck.graph.evaluate.loss_and_gradients`,
  :func:`symcheck.measure.numeric.gradients`, ``loss.backward()``);
* ``Adam step``: symcheck's Adam on the graph's parameter dict with
  :meth:`~symcheck.measure.optim.Optimizer.step_inplace` (torch's step is in place
  too), on the chain engine's ``[(W, b), ...]`` list with the pure
  :meth:`~symcheck.measure.optim.Optimizer.step`, and ``torch.optim.Adam``.

Each round calls the contenders of a measure in turn, ``--repeat`` times,
and takes each one's median; as the calls interleave, a change in the shared
machine's load hits the contenders alike. Reported: the median over rounds
and the range of the rounds, and the graph/torch ratio of each round (median
and range). Before timing it
records how far the engines' outputs, gradients and one Adam step are from
torch's (``max_abs_diff``: the largest over the graph and chain engines).
Figures go to ``bench/results/numeric.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _record  # bench/ is the script's directory, hence on the path

from symcheck import Network
from symcheck.graph.evaluate import forward as graph_forward
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.zoo import chain_graph
from symcheck.measure import numeric
from symcheck.measure.optim import get_optimizer
from symcheck.model.init import initialize

CASES = [("2-2-1", 4), ("32-64-64-10", 128), ("784-256-256-10", 256)]
MEASURES = ("forward", "forward+backward", "Adam step")
ENGINES = ("graph", "numeric", "torch")
LR = 1e-3


def _round(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median milliseconds of ``repeat`` calls of each function, the calls taken in turn."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def _torch_side(torch: Any, params: list, x: np.ndarray, y: np.ndarray) -> dict[str, Callable]:
    """Torch's forward (no_grad), forward+backward and gradient list on copies of the data."""
    tensors = [
        (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
        for w, b in params
    ]
    tx, ty = torch.tensor(x), torch.tensor(y)

    def predict():
        h = tx
        for i, (w, b) in enumerate(tensors):
            h = h @ w.T + b
            if i < len(tensors) - 1:
                h = torch.tanh(h)
        return h

    def forward():
        with torch.no_grad():
            return predict()

    def gradients():
        for w, b in tensors:
            w.grad = b.grad = None
        loss = 0.5 * ((predict() - ty) ** 2).sum(dim=1).mean()
        loss.backward()
        return [(w.grad, b.grad) for w, b in tensors]

    return {"forward": forward, "gradients": gradients, "tensors": tensors}


def _as_dict(params: list) -> dict[str, np.ndarray]:
    """``[(W, b), ...]`` as the chain graph's parameter dict (copies)."""
    named = {}
    for layer, (w, b) in enumerate(params, start=1):
        named[f"fc{layer}.weight"], named[f"fc{layer}.bias"] = w.copy(), b.copy()
    return named


def _max_diff(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs, strict=True))


def _contenders(torch: Any, spec: str, batch: int, rng: np.random.Generator) -> tuple:
    """The timed calls of one network, by measure and engine, and the agreement checks."""
    net = Network.parse(spec, activation="tanh")
    graph = chain_graph(list(net.widths), activation="tanh", batch=batch)
    params = initialize(net, "xavier_normal", rng=rng, bias=0.1)
    x = rng.standard_normal((batch, net.widths[0]))
    y = rng.standard_normal((batch, net.widths[-1]))
    named = _as_dict(params)
    side = _torch_side(torch, params, x, y)
    inputs = {"x": x}

    # Agreement: outputs and gradients of the three engines, one Adam step of each.
    values = graph_forward(graph, named, inputs)[0][graph.output]
    out_diff = max(
        _max_diff([values], [side["forward"]().numpy()]),
        _max_diff([numeric.forward(net, params, x)], [side["forward"]().numpy()]),
    )
    chain = [a for pair in numeric.gradients(net, params, x, y) for a in pair]
    graph_grads = loss_and_gradients(graph, named, inputs, y)[1]
    torch_grads = [t.numpy() for pair in side["gradients"]() for t in pair]
    grad_diff = max(
        _max_diff(list(graph_grads.values()), torch_grads), _max_diff(chain, torch_grads)
    )
    opt = get_optimizer("adam", lr=LR)
    stepped = _as_dict(params)
    opt.step_inplace(stepped, graph_grads, opt.init(stepped))
    twin = _torch_side(torch, params, x, y)
    twin["gradients"]()
    flat = [t for pair in twin["tensors"] for t in pair]
    torch.optim.Adam(flat, lr=LR, foreach=False).step()
    step_diff = _max_diff(list(stepped.values()), [t.detach().numpy() for t in flat])

    # Adam states for timing, on their own copies (each timed call takes a step).
    chain_grads = numeric.gradients(net, params, x, y)
    chain_state = opt.init(params)
    owned, owned_state = _as_dict(params), opt.init(named)
    timed_torch = _torch_side(torch, params, x, y)
    timed_torch["gradients"]()
    torch_opt = torch.optim.Adam(
        [t for pair in timed_torch["tensors"] for t in pair], lr=LR, foreach=False
    )
    state = {"graph": owned_state}

    def graph_adam() -> None:
        state["graph"] = opt.step_inplace(owned, graph_grads, state["graph"])

    calls = {
        "forward": {
            "graph": partial(graph_forward, graph, named, inputs),
            "numeric": partial(numeric.forward, net, params, x),
            "torch": side["forward"],
        },
        "forward+backward": {
            "graph": partial(loss_and_gradients, graph, named, inputs, y),
            "numeric": partial(numeric.gradients, net, params, x, y),
            "torch": side["gradients"],
        },
        "Adam step": {
            "graph": graph_adam,
            "numeric": partial(opt.step, params, chain_grads, chain_state),
            "torch": torch_opt.step,
        },
    }
    return calls, {"forward": out_diff, "forward+backward": grad_diff, "Adam step": step_diff}


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


_SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--repeat", type=int, default=15, help="calls per timing (default 15)")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 100 and 1 <= args.repeat <= 1000):
        parser.error(f"--rounds {args.rounds} / --repeat {args.repeat}: use 1-100 and 1-1000")
    if any(os.environ.get(k) != v for k, v in _SINGLE_THREAD.items()):
        # Every side single-threaded (a fair comparison on a shared machine);
        # BLAS reads these variables at import, so restart with them set.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_SINGLE_THREAD})
    context = _record.start()
    import torch

    torch.set_num_threads(1)
    print(
        f"numpy {np.__version__}, torch {torch.__version__}, float64, 1 thread, "
        f"{args.rounds} rounds x median of {args.repeat}"
    )
    print(
        f"{'network':>15} {'batch':>5} {'measure':>16} | {'graph':>9} {'numeric':>9} "
        f"{'torch':>9} | graph/torch (range)"
    )
    rng = np.random.default_rng(0)
    rows = []
    for spec, batch in CASES:
        calls, diffs = _contenders(torch, spec, batch, rng)
        times: dict[str, dict[str, list[float]]] = {m: {e: [] for e in ENGINES} for m in MEASURES}
        for _ in range(args.rounds):
            for measure in MEASURES:
                for engine, ms in _round(calls[measure], args.repeat).items():
                    times[measure][engine].append(ms)
        for measure in MEASURES:
            ms = {e: _summary(times[measure][e]) for e in ENGINES}
            ratios = [g / t for g, t in zip(times[measure]["graph"], times[measure]["torch"])]
            ratio = _summary(ratios)
            rows.append(
                {
                    "network": spec,
                    "batch": batch,
                    "measure": measure,
                    **{f"{e}_ms": ms[e] for e in ENGINES},
                    "graph_over_torch": ratio,
                    "max_abs_diff": diffs[measure],
                }
            )
            print(
                f"{spec:>15} {batch:>5} {measure:>16} | "
                + " ".join(f"{ms[e]['median']:6.3f} ms" for e in ENGINES)
                + f" | {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})"
            )
    figures = {"dtype": "float64", "threads": 1, "rounds": args.rounds, "repeat": args.repeat}
    _record.write("numeric", context, {**figures, "rows": rows})


if __name__ == "__main__":
    main()
