r"""Where a tie first breaks: in the gradient (autograd's rounding) or in the optimiser step.

At the first step :math:`t` where a tie class of :func:`tie_survival` has a
non-zero spread, the parameters *before* the step (after :math:`t-1`
steps) were exactly tied, so the difference arose inside step :math:`t`.
:func:`locate_first_difference` replays the run on a fresh copy up to
:math:`t-1` steps, checks that the class is still exactly tied there and
that step :math:`t` reproduces the recorded spread (otherwise the run is not
reproducible and nothing is claimed), and then compares, unit by unit, the
gradients autograd computed at step :math:`t`:

* some parameter's gradient differs between tied units: the difference
  arose in the forward or backward pass on exactly tied parameters (a
  kernel's rounding, or a random op such as dropout in train mode) — the
  parameters are named;
* every gradient is tied but the updated parameters are not: the optimiser
  step broke the tie (e.g. per-entry noise or state).

The op inside autograd is not located (a torch kernel's rounding depends on
the entry's position in the kernel's tiling, which symcheck's float64 graph
engine does not reproduce).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from symcheck.graph.symmetry import UnitSpace
from symcheck.torch.capture import to_numpy
from symcheck.torch.survival import ClassSurvival, _spread, _state

__all__ = ["Location", "locate_first_difference"]


@dataclass(frozen=True)
class Location:
    """Where a tie class first lost exactness (``stage`` None: not located, see ``note``)."""

    space: str
    units: tuple[int, ...]
    step: int
    stage: str | None  # "gradient", "optimizer" or None
    parameters: tuple[str, ...]  # whose gradients differ between the tied units
    note: str

    def to_json(self) -> dict[str, object]:
        return {
            "space": self.space,
            "units": list(self.units),
            "step": self.step,
            "stage": self.stage,
            "parameters": list(self.parameters),
            "note": self.note,
        }


def _steps(
    model: torch.nn.Module,
    make_optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
    args: Sequence[object],
    targets: torch.Tensor,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    count: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Replay ``count - 1`` steps, then step ``count``: (state before, gradients, state after)."""
    trained = copy.deepcopy(model).train()
    optimizer = make_optimizer(trained.parameters())
    for _ in range(count - 1):
        optimizer.zero_grad()
        criterion(trained(*args), targets).backward()
        optimizer.step()
    before = _state(trained)
    optimizer.zero_grad()
    criterion(trained(*args), targets).backward()
    grads = {
        n: to_numpy(p.grad) if p.grad is not None else np.zeros(tuple(p.shape))
        for n, p in trained.named_parameters()
    }
    optimizer.step()
    return before, grads, _state(trained)


def locate_first_difference(
    model: torch.nn.Module,
    make_optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
    args: Sequence[object],
    targets: torch.Tensor,
    survival: ClassSurvival,
    space: UnitSpace,
    *,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> Location | None:
    """Replay the run of ``survival``'s class to its first non-zero step (None if exact)."""
    step = survival.first_nonzero
    if step is None:
        return None
    units = survival.tie.units
    criterion = loss if loss is not None else torch.nn.MSELoss()
    before, grads, after = _steps(model, make_optimizer, args, targets, criterion, step)

    def where(stage: str | None, parameters: tuple[str, ...], note: str) -> Location:
        return Location(survival.tie.space, units, step, stage, parameters, note)

    if _spread(before, space, units) != 0 or _spread(after, space, units) == 0:
        return where(None, (), "not located: the replayed run does not reproduce the spread")
    differing = tuple(
        ref.parameter
        for ref in space.axes
        if ref.parameter in grads
        and _spread(grads, dataclasses.replace(space, axes=(ref,)), units) > 0
    )
    if differing:
        return where(
            "gradient",
            tuple(dict.fromkeys(differing)),
            "autograd's gradients differ between exactly tied units (kernel rounding, "
            "or a random op such as dropout in train mode); the op is not located",
        )
    return where("optimizer", (), "every gradient is tied; the optimiser step un-tied the units")
