r"""The tie-survival picture: the spread of each tie class per step, float32 against float64.

One panel, log scale: per run (a dtype) and tie class, the relative spread
:math:`s_t` of :mod:`symcheck.torch.survival` at every step where it is not
zero (a log axis cannot show 0: a run that stays bitwise tied is named in the
legend as ``exact``), the fitted exponential :math:`e^{c + r t}` over its
non-zero steps (dashed, same colour; :func:`~symcheck.torch.survival.growth_fit`)
the step of the first located difference (a thin vertical line: an
optimiser state such as Adam's moments can differ long before the
parameters, :mod:`symcheck.torch.locate`) and the ``threshold`` (dotted).
matplotlib is imported lazily through its
object-oriented API (:mod:`symcheck.measure.plot`); without it
:class:`~symcheck.measure.plot.PlotUnavailable` says how to install it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.measure.plot import _figure_class, save_figure
from symcheck.torch.survival import TieSurvival, growth_fit

__all__ = ["save_survival_figure", "survival_figure"]

#: One colour per run (Okabe & Ito); classes of one run differ by line style.
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
_STYLES = ("-", "-.", ":", (0, (5, 1)))


def _label(run: str, survival: Any) -> str:
    units = survival.tie.units
    head = f"{run}, {survival.tie.space} ({len(units)} units)"
    if survival.first_nonzero is None:
        return f"{head}: exact (spread 0 at every step)"
    return f"{head}: leaves 0 at step {survival.first_nonzero}"


def survival_figure(runs: Sequence[tuple[str, TieSurvival]], *, title: str = "") -> Any:
    """One log-scale panel of spread per step for every ``(label, result)`` in ``runs``."""
    if not runs or not all(isinstance(r, TieSurvival) for _, r in runs):
        raise InvalidArgument("runs must be a non-empty sequence of (label, TieSurvival) pairs")
    fig = _figure_class()(figsize=(9.0, 5.2), layout="constrained")
    ax = fig.subplots()
    drawn = False
    for i, (run, result) in enumerate(runs):
        colour = _COLOURS[i % len(_COLOURS)]
        for k, survival in enumerate(result.classes):
            spreads = np.asarray(survival.spreads)
            steps = np.arange(1, spreads.size + 1)
            shown = spreads > 0
            style = _STYLES[k % len(_STYLES)]
            label = _label(run, survival)
            ax.plot(steps[shown], spreads[shown], color=colour, linestyle=style, label=label)
            drawn = drawn or bool(shown.any())
            fit = growth_fit(survival.spreads, until=result.threshold)
            if fit is not None:
                rate, intercept = fit
                end = survival.first_broken or int(steps[shown][-1])
                span = np.array([survival.first_nonzero, end], dtype=np.float64)
                ax.plot(
                    span,
                    np.exp(intercept + rate * span),
                    color=colour,
                    linestyle="--",
                    linewidth=1.0,
                    label=f"{run}, {survival.tie.space}: fit e^({rate:.3g} t)",
                )
            where = survival.first_difference
            if where is not None and where.site is not None:
                ax.axvline(
                    where.step,
                    color=colour,
                    linestyle=style,
                    linewidth=0.8,
                    alpha=0.6,
                    label=f"{run}: first difference (step {where.step}): {where.site.op}",
                )
    threshold = runs[0][1].threshold
    ax.axhline(threshold, color="0.4", linestyle=":", label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    if not drawn:
        ax.set_ylim(threshold * 1e-12, threshold * 10)
    ax.set_xlabel("training step")
    ax.set_ylabel("relative spread of the tied units (log scale)")
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def save_survival_figure(
    runs: Sequence[tuple[str, TieSurvival]], out: str | Path, *, title: str = ""
) -> Path:
    """Draw :func:`survival_figure` and write it to ``out`` (e.g. ``spread.png``)."""
    return save_figure(survival_figure(runs, title=title), out)
