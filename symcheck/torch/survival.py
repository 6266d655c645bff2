r"""Tie survival measured in the user's framework: train a copy, watch the spread of each tie.

The identical-update theorem is exact; floating-point training is not (a
matmul may round an output column differently depending on where it falls
in a tile; theory: docs/theory.md, floating point). :func:`tie_survival`
finds the certified tie classes of the module now (:func:`tie_classes`),
trains a *copy* with the user's own torch optimiser in the module's own
dtype, and after every step records, per tie class, the relative spread

.. math::  s_t = \max_{u \in C}\ \lVert \theta_u - \theta_{u_0} \rVert_\infty
           \,/\, \max(\lVert \theta_{u_0} \rVert_\infty, \text{tiny})

over every parameter axis of the class's unit space (:math:`\theta_u` the
entries unit :math:`u` holds). Reported per class: the first step with
:math:`s_t > 0`, the fitted exponential growth rate :math:`r` (least squares
of :math:`\log s_t` on :math:`t` over the non-zero steps up to the first one
at or above ``threshold``, the drift phase; the spread grows by :math:`e^r`
per step) and the first step with :math:`s_t \ge` ``threshold``.
Verdict: ``exact`` (every :math:`s_t = 0`), ``broken`` (some
:math:`s_t \ge` ``threshold``) or ``drifting`` (non-zero, below it).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from symcheck.errors import InvalidArgument
from symcheck.graph.ties import TieCertificate
from symcheck.torch.api import module_ties
from symcheck.torch.locate import Location, locate_first_difference, training_step
from symcheck.torch.spread import relative_spread, state_arrays

__all__ = [
    "VERDICTS",
    "ClassSurvival",
    "TieSurvival",
    "growth_fit",
    "growth_rate",
    "tie_survival",
    "verdict_of",
]

VERDICTS = ("exact", "drifting", "broken")  # in order of severity
MAX_STEPS = 100_000


def growth_fit(
    spreads: Sequence[float], *, until: float | None = None
) -> tuple[float, float] | None:
    """Least squares of ``log s_t = c + r t`` over the non-zero spreads: ``(r, c)``.

    With ``until``, only the steps up to the first one with ``s_t >= until``
    (the drift phase; after it the units are apart and the spread saturates).
    None with fewer than 2 such steps.
    """
    points = []
    for t, s in enumerate(spreads, start=1):
        if s > 0:
            points.append((t, math.log(s)))
        if until is not None and s >= until:
            break
    if len(points) < 2:
        return None
    t, y = np.array(points).T
    rate, intercept = np.polyfit(t, y, 1)
    return float(rate), float(intercept)


def growth_rate(spreads: Sequence[float], *, until: float | None = None) -> float | None:
    """The slope ``r`` of :func:`growth_fit` (None if fewer than 2 non-zero spreads)."""
    fit = growth_fit(spreads, until=until)
    return None if fit is None else fit[0]


def verdict_of(spreads: Sequence[float], threshold: float) -> str:
    """``exact``, ``drifting`` or ``broken`` (see the module docstring)."""
    if not any(s > 0 for s in spreads):
        return "exact"
    return "broken" if max(spreads) >= threshold else "drifting"


@dataclass(frozen=True)
class ClassSurvival:
    """The spread of one tie class over the steps."""

    tie: TieCertificate  # the class (``units``) and the permutation certifying it
    spreads: tuple[float, ...]
    threshold: float
    #: Where the first non-zero spread came from (:mod:`symcheck.torch.locate`); None when
    #: the class stayed exact or the run was not asked to locate it.
    first_difference: Location | None = None

    @property
    def first_nonzero(self) -> int | None:
        return next((t for t, s in enumerate(self.spreads, start=1) if s > 0), None)

    @property
    def first_broken(self) -> int | None:
        return next((t for t, s in enumerate(self.spreads, start=1) if s >= self.threshold), None)

    @property
    def rate(self) -> float | None:
        """The growth rate of the drift, fitted up to the first broken step."""
        return growth_rate(self.spreads, until=self.threshold)

    @property
    def verdict(self) -> str:
        return verdict_of(self.spreads, self.threshold)

    def to_json(self) -> dict[str, object]:
        return {
            **self.tie.to_json(),
            "verdict": self.verdict,
            "first_nonzero_step": self.first_nonzero,
            "first_broken_step": self.first_broken,
            "growth_rate_per_step": self.rate,
            "first_difference": self.first_difference.to_json() if self.first_difference else None,
            "spreads": list(self.spreads),
        }


@dataclass(frozen=True)
class TieSurvival:
    """Every tie class followed through training; ``verdict`` is the worst class's."""

    classes: tuple[ClassSurvival, ...]
    steps: int
    dtype: str
    threshold: float

    @property
    def verdict(self) -> str:
        return max((c.verdict for c in self.classes), key=VERDICTS.index)

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "steps": self.steps,
            "dtype": self.dtype,
            "threshold": self.threshold,
            "classes": [c.to_json() for c in self.classes],
        }


def tie_survival(
    model: torch.nn.Module,
    make_optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
    inputs: object,
    targets: torch.Tensor,
    steps: int,
    *,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    threshold: float = 1e-6,
    locate: bool = True,
) -> TieSurvival:
    """Train a copy of ``model`` (its own dtype) for ``steps`` steps; follow every tie class.

    ``make_optimizer`` receives the copy's parameters and returns a torch
    optimiser; ``loss`` defaults to ``nn.MSELoss()``. The user's module is
    not modified. With ``locate`` each class that leaves 0 gets its
    ``first_difference`` (:func:`symcheck.torch.locate.locate_first_difference`:
    the run is replayed from the same RNG state to that step, then op by op;
    this can double the time of a run that drifts).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InvalidArgument(f"steps={steps!r} is not valid; use an int from 1 to {MAX_STEPS}")
    if not isinstance(threshold, (int, float)) or not 0 < threshold:
        raise InvalidArgument(f"threshold={threshold!r} is not valid; use a number > 0")
    args = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    found = module_ties(model, args)
    certificates = found.certificates
    if not certificates:
        raise InvalidArgument(
            f"module {type(model).__name__} has no tie classes now; tie units first "
            "(constant initialisation or copied rows) to follow them through training"
        )
    spaces = {c.space: found.symmetries.space(c.space) for c in certificates}
    start = torch.get_rng_state()
    trained = copy.deepcopy(model).train()
    optimizer = make_optimizer(trained.parameters())
    criterion = loss if loss is not None else torch.nn.MSELoss()
    spreads: list[list[float]] = [[] for _ in certificates]
    for _ in range(steps):
        training_step((trained, optimizer), args, targets, criterion)
        state = state_arrays(trained)
        for k, tie in enumerate(certificates):
            spreads[k].append(relative_spread(state, spaces[tie.space], tie.units))
    dtype = str(next(trained.parameters()).dtype).removeprefix("torch.")
    classes = [
        ClassSurvival(tie, tuple(s), float(threshold)) for tie, s in zip(certificates, spreads)
    ]
    if locate:
        end = torch.get_rng_state()
        for k, survival in enumerate(classes):
            where = locate_first_difference(
                model,
                make_optimizer,
                args,
                targets,
                survival,
                loss=criterion,
                rng_state=start,
                found=found,
            )
            classes[k] = dataclasses.replace(survival, first_difference=where)
        torch.set_rng_state(end)  # the caller's RNG continues as after the run
    return TieSurvival(tuple(classes), steps, dtype, float(threshold))
