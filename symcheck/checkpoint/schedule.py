r"""The order in which an audit's unit spaces run: the same on threads and on a cluster.

A wide space reads the slice norms that an earlier space of the same tensor
published (:data:`symcheck.checkpoint.scan.NormCache`): it then skips decoding
and sketches a sample of the positions. Whether a space finds those norms must
not depend on timing, the number of threads or a cluster, or the report would
(its nearest pair is an upper bound found through the sketch). So the plan is
cut into **phases** before anything runs:

.. math::

    \mathrm{phase}(s) = 1 + \max\{\mathrm{phase}(t) : t \text{ before } s
    \text{ in the plan}, t \text{ and } s \text{ share a tensor}\}
    \quad (0 \text{ when there is none}).

Spaces of one phase share no tensor, so they can run in any order on any
worker. Each starts from the norms of the earlier phases (read-only) and
returns those it publishes; they are merged in plan order (the first publisher
of a ``(tensor, axis)`` wins). That is what one thread running the plan in
order computes, because only spaces sharing a tensor exchange norms and those
run in plan order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from symcheck.checkpoint.families import Space
from symcheck.checkpoint.report import SpaceReport

__all__ = ["Norms", "Runner", "phases", "run_plan"]

#: Slice norms by ``(tensor, axis)`` (:data:`symcheck.checkpoint.scan.NormCache`).
Norms = Mapping[tuple[str, int], np.ndarray]


class Runner(Protocol):
    """Runs one phase: every space with the norms of the earlier phases."""

    def run(
        self, spaces: Sequence[Space], norms: Norms
    ) -> list[tuple[SpaceReport, dict[tuple[str, int], np.ndarray]]]:
        """``(report, published norms)`` per space, in the order given."""
        ...


def phases(spaces: Sequence[Space]) -> list[list[int]]:
    """Indices of ``spaces`` by phase (see the module docstring), each in plan order."""
    last: dict[str, int] = {}
    out: list[list[int]] = []
    for index, space in enumerate(spaces):
        phase = 1 + max((last.get(t, -1) for t in space.tensors), default=-1)
        for t in space.tensors:
            last[t] = phase
        if phase == len(out):
            out.append([])
        out[phase].append(index)
    return out


def run_plan(spaces: Sequence[Space], runner: Runner) -> list[SpaceReport]:
    """Run every space phase by phase; the reports in plan order."""
    norms: dict[tuple[str, int], np.ndarray] = {}
    reports: dict[int, SpaceReport] = {}
    for phase in phases(spaces):
        results = runner.run([spaces[i] for i in phase], dict(norms))
        for index, (report, published) in zip(phase, results, strict=True):
            reports[index] = report
            for key, value in published.items():
                norms.setdefault(key, value)
    return [reports[i] for i in range(len(spaces))]
