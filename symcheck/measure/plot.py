"""Pictures of training trajectories: zero init against random init, side by side.

matplotlib is an optional extra (``pip install 'symcheck[plot]'``); it is
imported lazily, and only its object-oriented API is used (a
:class:`matplotlib.figure.Figure` rendered by the Agg canvas), so plotting
never touches pyplot's global state or the user's backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symcheck.errors import InvalidArgument, SymcheckError
from symcheck.files import check_output_path
from symcheck.limits import LIMITS
from symcheck.measure.train import Trajectory
from symcheck.model.network import Network

__all__ = ["PlotUnavailable", "check_plot_size", "save_figure", "trajectory_figure"]

#: One colour per neuron (colour-blind safe, Okabe & Ito).
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("", "o", "s", "^", "v", "D")

NDArray = np.ndarray


class PlotUnavailable(SymcheckError):
    """matplotlib is not installed."""


def _figure_class() -> Any:
    try:
        return importlib.import_module("matplotlib.figure").Figure
    except ImportError:
        raise PlotUnavailable(
            "plotting needs matplotlib, which is not installed; "
            "install it with: pip install 'symcheck[plot]'"
        ) from None


def check_plot_size(network: Network, *, layer: int) -> None:
    """Raise :class:`InvalidArgument` unless ``layer`` exists and has few enough entries to draw.

    One line is drawn per entry of :math:`W^l`; at most ``LIMITS.plot_lines``
    (:mod:`symcheck.limits`), checked before any training.
    """
    if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= network.depth:
        raise InvalidArgument(
            f"layer={layer!r} is not a weight layer of {network.spec}; use 1..{network.depth}"
        )
    n_out, n_in = network.shapes[layer - 1]
    if n_out * n_in > LIMITS.plot_lines:
        raise InvalidArgument(
            f"layer {layer} of {network.spec} has {n_out * n_in} weights, one line each, beyond "
            f"the limit of {LIMITS.plot_lines} lines per panel; draw a narrower network"
        )


def _closest_pair_gaps(traj: Trajectory, layer: int) -> NDArray:
    """Per recorded step, the gap of the closest two rows of :math:`W^l`."""
    rows = traj.weights(layer)
    n = rows.shape[1]
    gaps = [
        np.max(np.abs(rows[:, i] - rows[:, j]), axis=-1) for i in range(n) for j in range(i + 1, n)
    ]
    return np.min(gaps, axis=0) if gaps else np.zeros(len(traj.steps))


def _draw_weights(ax: Any, traj: Trajectory, layer: int, title: str) -> None:
    weights = traj.weights(layer)
    steps = np.asarray(traj.steps)
    n_out, n_in = weights.shape[1:]
    every = max(1, len(steps) // 10)
    for i in range(n_out):
        for k in range(n_in):
            ax.plot(
                steps,
                weights[:, i, k],
                color=_COLOURS[i % len(_COLOURS)],
                linestyle=_STYLES[i % len(_STYLES)],
                linewidth=3.2 if i == 0 else 1.6,
                marker=_MARKERS[k % len(_MARKERS)],
                markevery=every,
                markersize=5,
                alpha=0.9,
                label=f"$W^{{{layer}}}_{{{i + 1}{k + 1}}}$ (neuron {i + 1}, input {k + 1})",
                gid=f"w{layer}-{i}-{k}",
            )
    gaps = _closest_pair_gaps(traj, layer)
    if n_out < 2:
        verdict = "a single neuron: nothing to compare"
    elif np.all(gaps == 0):
        verdict = (
            "hidden neurons identical at every step\n"
            "(the dashed lines lie exactly on the solid ones)"
        )
    else:
        verdict = f"closest two neurons differ by {gaps[-1]:.3g} at the end"
    ax.set_title(f"{title}\n{verdict}", fontsize=10)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"incoming weights of the hidden neurons ($W^{{{layer}}}$)")
    ax.axhline(0.0, color="0.7", linewidth=0.8, zorder=0)
    ax.legend(fontsize=7, loc="best")


def trajectory_figure(
    runs: Sequence[tuple[str, Trajectory]], *, layer: int = 1, title: str = ""
) -> Any:
    """A figure with one panel of hidden weights per run, and a loss panel.

    ``runs`` is a sequence of ``(label, trajectory)``; each panel draws every
    entry :math:`W^l_{ik}` of hidden layer ``layer`` over the recorded steps,
    one colour and line style per neuron :math:`i` (neuron 1 thick and solid,
    the others thinner and dashed on top, so coinciding neurons show as one
    line). The last panel shows the loss of every run (log scale).
    """
    if not runs:
        raise InvalidArgument("runs is empty; give at least one (label, trajectory) pair")
    for _, traj in runs:
        if not isinstance(traj, Trajectory):
            raise InvalidArgument(f"runs holds {traj!r:.60}; give (label, Trajectory) pairs")
        check_plot_size(traj.network, layer=layer)
    figure_class = _figure_class()
    fig = figure_class(figsize=(5.2 * (len(runs) + 1), 4.6), layout="constrained")
    axes = fig.subplots(1, len(runs) + 1)
    for ax, (label, traj) in zip(axes, runs):
        _draw_weights(ax, traj, layer, label)
    loss_ax = axes[-1]
    for i, (label, traj) in enumerate(runs):
        loss_ax.plot(
            np.asarray(traj.steps),
            traj.losses,
            color=_COLOURS[(i + 4) % len(_COLOURS)],
            linewidth=2.0,
            label=label.split("\n")[0],
            gid=f"loss-{i}",
        )
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel("loss on the training data")
    loss_ax.set_title("loss", fontsize=10)
    loss_ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def save_figure(fig: Any, out: str | Path, *, dpi: int = 110) -> Path:
    """Render ``fig`` to ``out`` (format from the suffix, e.g. ``.png``, ``.svg``).

    ``out`` must be a regular file (or a new one) whose suffix names a format
    that matplotlib writes; a write error (full disk) is an InvalidArgument.
    """
    path = check_output_path(out, what="out")
    formats = fig.canvas.get_supported_filetypes()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise InvalidArgument(
            f"out={str(out)!r} has no image suffix; end it with one of "
            f"{sorted('.' + f for f in formats)!r}, e.g. traj.png"
        )
    try:
        fig.savefig(path, dpi=dpi, format=suffix)
    except ValueError as exc:  # unknown format
        raise InvalidArgument(f"out={str(out)!r}: {exc}") from None
    except OSError as exc:
        raise InvalidArgument(f"out={str(out)!r} cannot be written: {exc.strerror}") from None
    return path
