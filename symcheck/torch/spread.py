r"""The relative spread of a tie class: how far its units are from being identical.

For a class :math:`C` of a unit space with first unit :math:`u_0`,

.. math::  s = \max_{u \in C}\ \lVert \theta_u - \theta_{u_0} \rVert_\infty
           \,/\, \max(\lVert \theta_{u_0} \rVert_\infty, \text{tiny})

over every parameter axis of the space (:math:`\theta_u` the entries unit
:math:`u` holds there); 0 exactly when the units are bitwise equal. Used by
:func:`symcheck.torch.tie_survival`, its locator and the collapse monitor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from symcheck.graph.symmetry import UnitSpace, unit_entries
from symcheck.torch.capture import to_numpy

__all__ = ["relative_spread", "state_arrays"]


def relative_spread(state: dict[str, np.ndarray], space: UnitSpace, units: Sequence[int]) -> float:
    """The relative spread of ``units`` in ``state`` (axes of folded constants are skipped:
    they never train)."""
    worst, scale = 0.0, 0.0
    for ref in space.axes:
        if ref.parameter not in state:
            continue
        array = state[ref.parameter]
        first = unit_entries(array, space, ref, units[0])
        scale = max(scale, float(np.max(np.abs(first))))
        for u in units[1:]:
            other = unit_entries(array, space, ref, u)
            worst = max(worst, float(np.max(np.abs(other - first))))
    return worst / max(scale, np.finfo(np.float64).tiny)


def state_arrays(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """Every parameter and buffer of ``model`` as a float64 (or int64) NumPy copy."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return {name: to_numpy(t) for name, t in tensors}
