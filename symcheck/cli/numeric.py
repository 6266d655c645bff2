"""``symcheck plot trajectories``: zero init against random init, in one picture.

The data are a small deterministic toy set drawn from ``--seed``: inputs
:math:`x \\sim \\mathcal N(0, I)` and targets from a random linear teacher
:math:`v` suited to the loss (``tanh(x v)`` for MSE, ``[x v > 0]`` for BCE,
the one-hot ``argmax(x V)`` for cross-entropy).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from symcheck.cli.args import finite_float, int_in, seed
from symcheck.files import check_output_path
from symcheck.limits import LIMITS
from symcheck.measure.optim import OPTIMIZERS, get_optimizer
from symcheck.measure.plot import check_plot_size
from symcheck.measure.train import MAX_STEPS, check_training_size, train
from symcheck.model.init import initialize
from symcheck.model.network import Network

__all__ = ["register", "toy_data"]

NDArray = np.ndarray
#: Samples of the toy data set.
_SAMPLES = 8


def toy_data(
    network: Network, *, rng: np.random.Generator, samples: int = 8
) -> tuple[NDArray, NDArray]:
    """A small data set ``(x, y)`` for ``network`` from a random linear teacher."""
    x = rng.standard_normal((samples, network.widths[0]))
    scores = x @ rng.standard_normal((network.widths[0], network.widths[-1]))
    output = network.loss_fn.output
    if output == "softmax":
        y = np.eye(network.widths[-1])[np.argmax(scores, axis=1)]
    elif output == "sigmoid":
        y = (scores > 0).astype(np.float64)
    else:
        y = np.tanh(scores)
    return x, y


def _trajectories(args: argparse.Namespace) -> int:
    from symcheck.measure.plot import save_figure, trajectory_figure

    net = Network.parse(args.network, activation=args.activation, loss=args.loss)
    check_output_path(args.out, what="--out")
    check_plot_size(net, layer=args.layer)
    check_training_size(net, steps=args.steps, samples=_SAMPLES)
    data = toy_data(net, rng=np.random.default_rng(args.seed), samples=_SAMPLES)
    opt = get_optimizer(args.optimizer, lr=args.lr)
    rng = np.random.default_rng(args.seed + 1)
    runs: list[tuple[str, Any]] = []
    for label, scheme in (("zero init", "zeros"), (f"random init ({args.init})", args.init)):
        params = initialize(net, scheme, rng=rng)
        runs.append((label, train(net, params, data, opt, args.steps)))
    title = f"{net}, {opt}, {args.steps} steps: zero init never breaks symmetry, random init does"
    fig = trajectory_figure(runs, layer=args.layer, title=title)
    path = save_figure(fig, args.out)
    print(f"wrote {path}")
    return 0


def register(sub: Any) -> None:
    """Add the ``plot`` command with its kind ``trajectories``."""
    plot = sub.add_parser("plot", help="draw pictures", description="Draw pictures.")
    kinds = plot.add_subparsers(dest="plot_kind", metavar="KIND")
    p = kinds.add_parser(
        "trajectories",
        help="hidden weights over training: zero init vs random init",
        description="Train a network from zero init and from a random init on a toy data set "
        "and draw the hidden neurons' incoming weights over the steps, side by side.",
    )
    p.add_argument("network", help="width string, e.g. 2-2-1")
    p.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument("--loss", default="mse", help="loss (default mse)")
    p.add_argument(
        "--optimizer", default="sgd", metavar="NAME", help=f"one of {', '.join(OPTIMIZERS)}"
    )
    p.add_argument("--lr", type=finite_float(), default=1.0, help="learning rate (default 1.0)")
    p.add_argument(
        "--steps", type=int_in(1, MAX_STEPS), default=50, help="training steps (default 50)"
    )
    p.add_argument(
        "--init",
        default="xavier_normal",
        metavar="NAME",
        help="the random init to compare (default xavier_normal; any catalogue name)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the data and the init")
    p.add_argument(
        "--layer", type=int_in(1, LIMITS.seed), default=1, help="weight layer to draw (default 1)"
    )
    p.add_argument("--out", required=True, help="output image, e.g. traj.png")
    p.set_defaults(func=_trajectories)
