"""A collapse monitor for training loops: effective width, zero units and tie drift over time.

:class:`CollapseMonitor` infers the unit spaces of the module once (one
``torch.export`` capture at construction); each call (``monitor(step)``,
every ``every`` steps, others return at once) copies the current parameters
and records, per movable unit space,

* ``effective_width``: the number of distinct units (units whose entries on
  every axis of the space are bitwise equal count once; certified tie
  classes are the only way two units can stay equal under training, see
  docs/theory.md);
* ``zero_units``: units all of whose entries are exactly 0 (they contribute
  nothing and, for most activations, receive no gradient);
* ``drift``: for each tie class present at the first call, the relative
  spread of its units now (:mod:`symcheck.torch.survival`'s measure).

The work per call is one copy of the parameters and a comparison of unit
slices, O(parameters); no capture, no forward pass. ``lightning_callback``
wraps it as a ``lightning`` Callback (imported only when called).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from symcheck.errors import InvalidArgument
from symcheck.torch.api import symmetries, unit_entries
from symcheck.torch.spread import relative_spread, state_arrays

__all__ = ["CollapseMonitor", "SpaceRecord", "lightning_callback"]


@dataclass(frozen=True)
class SpaceRecord:
    """One unit space at one step."""

    step: int
    space: str
    size: int
    effective_width: int
    zero_units: tuple[int, ...]
    drift: tuple[float, ...]  # per tie class of the first call, in order

    def to_json(self) -> dict[str, object]:
        return {
            "step": self.step,
            "space": self.space,
            "size": self.size,
            "effective_width": self.effective_width,
            "zero_units": list(self.zero_units),
            "drift": list(self.drift),
        }


class CollapseMonitor:
    """Call it every step (``monitor(step)``); it records every ``every``-th one."""

    def __init__(self, model: torch.nn.Module, example_inputs: object, *, every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InvalidArgument(f"every={every!r} is not valid; use an int >= 1")
        self.model = model
        self.every = every
        args = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
        self.spaces = symmetries(model, tuple(args)).movable
        self.records: list[SpaceRecord] = []
        self._ties: dict[str, list[tuple[int, ...]]] | None = None

    def _groups(self, state: dict[str, np.ndarray], space: Any) -> list[list[int]]:
        groups: dict[tuple, list[int]] = {}
        for unit in range(space.size):
            key = tuple(
                unit_entries(state[r.parameter], space, r, unit).tobytes()
                for r in space.axes
                if r.parameter in state
            )
            groups.setdefault(key, []).append(unit)
        return list(groups.values())

    def __call__(self, step: int) -> list[SpaceRecord] | None:
        """Record ``step`` if it is a multiple of ``every``; return its records (else None)."""
        if step % self.every:
            return None
        state = state_arrays(self.model)
        groups = {s.name: self._groups(state, s) for s in self.spaces}
        if self._ties is None:
            self._ties = {n: [tuple(g) for g in gs if len(g) > 1] for n, gs in groups.items()}
        new = []
        for space in self.spaces:
            zero = tuple(
                u
                for u in range(space.size)
                if all(
                    not np.any(unit_entries(state[r.parameter], space, r, u))
                    for r in space.axes
                    if r.parameter in state
                )
            )
            drift = tuple(relative_spread(state, space, units) for units in self._ties[space.name])
            new.append(
                SpaceRecord(step, space.name, space.size, len(groups[space.name]), zero, drift)
            )
        self.records.extend(new)
        return new

    def to_json(self) -> list[dict[str, object]]:
        return [r.to_json() for r in self.records]


def lightning_callback(monitor: CollapseMonitor) -> Any:
    """A ``lightning.pytorch.Callback`` calling ``monitor(global_step)`` after each batch."""
    try:
        from lightning.pytorch import Callback
    except ImportError:
        raise InvalidArgument(
            "lightning_callback needs lightning; install it with: pip install lightning"
        ) from None

    class CollapseCallback(Callback):  # type: ignore[misc]
        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            monitor(int(trainer.global_step))

    return CollapseCallback()
