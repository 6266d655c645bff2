"""The scale picture: gradient norm per layer for several weight scales, on one figure.

Each :class:`~symcheck.measure.diagnose.Diagnosis` is one line: the measured gradient
norm of every layer (solid, with markers) and the mean-field prediction
(dashed, same colour), on a log axis, labelled with its verdict. matplotlib is
imported lazily through its object-oriented API (the Agg canvas, no pyplot
state); without it :class:`symcheck.measure.plot.PlotUnavailable` says how to install it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from symcheck.errors import InvalidArgument
from symcheck.measure.diagnose import Diagnosis
from symcheck.measure.plot import PlotUnavailable, save_figure

__all__ = ["DEFAULT_SCALES", "save_scale_figure", "scale_figure"]

#: Factors applied to the initialised weights in the picture.
DEFAULT_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
_PANELS = (
    ("delta_norm", r"back-propagated gradient RMS $\|\partial \ell / \partial z^l\|$"),
    ("grad_norm", r"weight gradient RMS $\|\partial \ell / \partial W^l\|_F$"),
)
_FLOOR = 1e-300
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _new_figure(**kwargs: Any) -> Any:
    try:
        figure = importlib.import_module("matplotlib.figure").Figure
    except ImportError:
        raise PlotUnavailable(
            "the scale plot needs matplotlib, which is not installed; "
            "install it with: pip install 'symcheck[plot]'"
        ) from None
    return figure(**kwargs)


def scale_figure(diagnoses: Sequence[Diagnosis], *, title: str = "") -> Any:
    """Two panels against the layer l: the norms of delta^l and of dl/dW^l.

    One colour per diagnosis; measured solid with markers, mean field dashed.
    """
    if not diagnoses:
        raise InvalidArgument("diagnoses is empty; give at least one Diagnosis")
    fig = _new_figure(figsize=(12.0, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (field, label) in zip(axes, _PANELS):
        for i, d in enumerate(diagnoses):
            colour = _COLOURS[i % len(_COLOURS)]
            layers = [r.layer for r in d.layers]
            for suffix, style, width in (("", "o-", 2.0), ("_pred", "--", 1.0)):
                ax.plot(
                    layers,
                    [max(getattr(r, field + suffix), _FLOOR) for r in d.layers],
                    style,
                    color=colour,
                    linewidth=width,
                    label=f"{d.init}: {d.verdict}" if not suffix else None,
                    gid=f"{field}{suffix}-{i}",
                )
        ax.set_yscale("log")
        ax.set_xlabel("layer l")
        ax.set_ylabel(label)
        ax.set_xticks([r.layer for r in diagnoses[0].layers])
    axes[0].legend(fontsize=8)
    fig.suptitle(title or f"{diagnoses[0].network}: measured (solid), mean field (dashed)")
    return fig


def save_scale_figure(diagnoses: Sequence[Diagnosis], out: str | Path, *, title: str = "") -> Path:
    """Draw :func:`scale_figure` and write it to ``out`` (format from the suffix)."""
    return save_figure(scale_figure(diagnoses, title=title), out)
