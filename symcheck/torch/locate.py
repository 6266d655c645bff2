r"""Where a tie first breaks: the step, the stage (gradient or optimiser) and the op.

A tie class of :func:`tie_survival` is exactly tied at the start. Its
parameters may first differ at step :math:`t`, but an optimiser state (Adam's
moments) can differ earlier and carry the difference along, so
:func:`locate_first_difference` replays the run (same RNG state) on a fresh
copy step by step up to :math:`t` and stops at the first step :math:`s`
after which the parameters *or* an optimiser state shaped like a parameter
differ between tied units. Everything was exactly tied before step :math:`s`,
so the difference arose inside it. Reported:

* the **stage**: ``gradient`` when autograd's gradients already differ
  between tied units, ``optimizer`` when every gradient is tied and the
  optimiser step un-tied them;
* the **op**: step :math:`s` is replayed op by op
  (:mod:`symcheck.torch.optrace`: every aten call of the forward, backward
  and optimiser step, in the run's own kernels and dtype) and the first op
  whose output differs between two tied units :math:`u_0, u_1` (``pair``:
  the first unit and the one furthest from it after the step) is named, with
  its phase and the module it came from.

Which entries of an op's output belong to which unit is measured, not
assumed: the step is replayed twice more in float64, at :math:`\theta +
\delta` (a random perturbation of :math:`u_0`'s parameters) and at
:math:`\theta + g\delta`, where :math:`g` is the power of the class's
certificate that moves :math:`u_0` to :math:`u_1`; it fixes :math:`\theta`
(checked on the parameters and the optimiser state). For an op that commutes
with :math:`g` (theory: docs/theory.md, equivariance) the second output is
the first with the two units' entries exchanged, so the entries that change
between the probes pair up by value to float64 rounding
(:data:`PAIRING_TOLERANCE`; entries whose values coincide are compared as
groups). Then:

* the entries pair up and the run's output differs on a pair: ``rounding``,
  the op treats the units alike in exact arithmetic but its kernel rounds
  their entries differently in the run's dtype (vectorised and scalar code
  paths, a matmul's tiling);
* the entries do not pair up: ``not equivariant``, the op treats the tied
  units differently even in float64 (a random op such as dropout, or a
  position- or unit-dependent term).

Outputs that are symmetric in the two units (a sum over them, or values that
do not depend on them) and uninitialised buffers are skipped. If no op is
found the answer says so (``site`` is None): nothing is guessed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from symcheck.graph.symmetry import AxisRef, UnitSpace, apply_permutation, unit_entries
from symcheck.graph.ties import TieCertificate
from symcheck.torch.api import ModuleTies, module_ties
from symcheck.torch.capture import to_numpy
from symcheck.torch.optrace import OpCall, StepTrace, TraceTooLarge, record_step
from symcheck.torch.spread import relative_spread, state_arrays

if TYPE_CHECKING:  # survival imports this module
    from symcheck.torch.survival import ClassSurvival

__all__ = [
    "CAUSES",
    "PAIRING_TOLERANCE",
    "PERTURBATION",
    "Location",
    "OpSite",
    "locate_first_difference",
    "training_step",
]

#: Relative size of the float64 probe perturbation of one unit's parameters.
PERTURBATION = 1e-2
#: Paired float64 entries may differ by this much relative to the output's largest entry.
PAIRING_TOLERANCE = 1e-9
#: An entry counts as changed by the probe when it moves by more than this (relative).
CHANGE_THRESHOLD = 1e-7

#: Ops whose outputs are uninitialised memory (filled by a later op): never compared.
UNINITIALISED = ("aten.empty", "aten.new_empty", "aten.empty_like", "aten.empty_strided")

CAUSES = {
    "rounding": "the op treats the tied units alike in exact arithmetic (a float64 probe "
    "pairs their entries) but its {dtype} kernel rounds them differently (e.g. vectorised and "
    "scalar code paths, or a matmul's tiling)",
    "not equivariant": "the op treats the tied units differently even in float64 (a random "
    "op such as dropout, or a position- or unit-dependent term)",
}


@dataclass(frozen=True)
class OpSite:
    """The first op whose output differs between the two tied units."""

    index: int  # position of the call in the step
    op: str
    phase: str  # "forward", "backward" or "optimizer"
    module: str
    autograd_node: str | None
    cause: str  # a key of CAUSES
    explanation: str

    def text(self) -> str:
        node = f", {self.autograd_node}" if self.autograd_node else ""
        return f"{self.op} ({self.phase}{node}) in {self.module}: {self.cause}"


@dataclass(frozen=True)
class Location:
    """Where a tie class first lost exactness (``site`` None: the op is not located, see
    ``note``)."""

    space: str
    units: tuple[int, ...]
    step: int
    stage: str | None  # "gradient", "optimizer" or None
    parameters: tuple[str, ...]  # whose gradients differ between the tied units
    pair: tuple[int, int] | None  # the two units compared op by op
    site: OpSite | None
    note: str

    def to_json(self) -> dict[str, object]:
        site = self.site
        return {
            "space": self.space,
            "units": list(self.units),
            "step": self.step,
            "stage": self.stage,
            "parameters": list(self.parameters),
            "pair": list(self.pair) if self.pair else None,
            "op": site.op if site else None,
            "phase": site.phase if site else None,
            "module": site.module if site else None,
            "autograd_node": site.autograd_node if site else None,
            "cause": site.cause if site else None,
            "note": self.note,
        }


Replay = tuple[torch.nn.Module, torch.optim.Optimizer]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def training_step(
    replay: Replay, args: Sequence[object], targets: torch.Tensor, criterion: Loss
) -> None:
    """One step of a training loop: zero_grad, forward, loss, backward, optimiser step."""
    model, optimizer = replay
    optimizer.zero_grad()
    criterion(model(*args), targets).backward()
    optimizer.step()


def _training_state(replay: Replay) -> dict[str, dict[str, np.ndarray]]:
    """The parameters and buffers (key ``""``) and each optimiser state shaped like its
    parameter (key: the state's name, e.g. ``exp_avg``), as float64 arrays by name."""
    model, optimizer = replay
    names = {id(p): n for n, p in model.named_parameters()}
    found: dict[str, dict[str, np.ndarray]] = {"": state_arrays(model)}
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and key != "step":
                found.setdefault(key, {})[names[id(param)]] = to_numpy(value)
    return found


def _untied(
    training: dict[str, dict[str, np.ndarray]], space: UnitSpace, units: Sequence[int]
) -> float:
    """The largest relative spread of ``units`` over the parameters and optimiser states."""
    return max(relative_spread(arrays, space, units) for arrays in training.values())


def _float64(replay: Replay) -> Replay:
    """A float64 copy of a module and its optimiser (the optimiser state cast too)."""
    model, optimizer = copy.deepcopy(replay)
    model.double()
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and key != "step":
                state[key] = value.double()
    return model, optimizer


def _power_to(certificate: TieCertificate, source: int, target: int) -> tuple[int, ...]:
    """The power ``g`` of the certificate's cycle with ``new[target] = old[source]``."""
    perm = certificate.permutation
    power = perm
    while power[target] != source:  # the cycle runs through both units
        power = tuple(power[j] for j in perm)
    return power


def _perturbation(
    state: dict[str, np.ndarray], names: Sequence[str], space: UnitSpace, unit: int
) -> dict[str, np.ndarray]:
    """Random entries on ``unit``'s slice of every trainable array the space moves along one
    axis (zero elsewhere; arrays on two of its axes are left alone)."""
    rng = np.random.default_rng(0)
    counts = Counter(ref.parameter for ref in space.axes)
    delta = {name: np.zeros_like(state[name]) for name in names}
    for ref in space.axes:
        if counts[ref.parameter] != 1 or ref.parameter not in delta:
            continue
        array = state[ref.parameter]
        where = unit_entries(np.arange(array.size).reshape(array.shape), space, ref, unit).ravel()
        scale = float(np.max(np.abs(array.flat[where]), initial=0.0)) or 1.0
        delta[ref.parameter].flat[where] = PERTURBATION * scale * rng.standard_normal(where.size)
    return delta


def _perturbed(replay: Replay, delta: dict[str, np.ndarray]) -> Replay:
    model, optimizer = _float64(replay)
    tensors = dict((*model.named_parameters(), *model.named_buffers()))
    with torch.no_grad():
        for name, step in delta.items():
            tensors[name].add_(torch.from_numpy(step))
    return model, optimizer


def _pairs(a: np.ndarray, c: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | str:
    """Pair the entries the exchange of the two units moves (probe ``a``: ``u_0`` perturbed,
    ``c``: ``u_1`` perturbed the same way): groups of entries ``(I, J)`` with ``c[J] = a[I]``
    (one entry each where the values are distinct, more where they coincide), ``"skip"``
    when no entry moves, ``"unpaired"`` when the values of ``a`` and ``c`` do not match."""
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(c), initial=0.0)))
    scale = max(scale, np.finfo(np.float64).tiny)
    moved = np.flatnonzero(~(np.abs(a - c) <= CHANGE_THRESHOLD * scale))
    if moved.size == 0 or not np.all(np.isfinite(a.flat[moved])):
        return "skip"  # symmetric in the two units (or independent of them), or not finite
    first = moved[np.argsort(a.flat[moved], kind="stable")]
    second = moved[np.argsort(c.flat[moved], kind="stable")]
    x, y = a.flat[first], c.flat[second]
    if not np.all(np.isfinite(y)):
        return "skip"
    tolerance = PAIRING_TOLERANCE * scale
    if not np.all(np.abs(x - y) <= tolerance):
        return "unpaired"
    cuts = np.flatnonzero(np.diff(x) > 10 * tolerance) + 1
    return list(zip(np.split(first, cuts), np.split(second, cuts)))


def _shapes_match(calls: Sequence[OpCall], *others: Sequence[OpCall]) -> bool:
    return all(
        len(other) == len(calls)
        and all(
            o.op == c.op and [x.shape for x in o.outputs] == [x.shape for x in c.outputs]
            for o, c in zip(other, calls)
        )
        for other in others
    )


def _differ(value: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Do paired entries of the run's ``value`` differ (as multisets within a group)?"""
    return any(
        not np.array_equal(np.sort(value.flat[i]), np.sort(value.flat[j]), equal_nan=True)
        for i, j in groups
    )


def _first_op(run: StepTrace, moved: StepTrace, other: StepTrace) -> tuple[OpCall, str, int] | None:
    """The first call whose output differs between the paired entries (or does not pair)."""
    for call, a, c in zip(run.calls, moved.calls, other.calls):
        if call.op.rpartition(".")[0] in UNINITIALISED:
            continue
        for k, value in enumerate(call.outputs):
            if value.size == 0:
                continue
            groups = _pairs(a.outputs[k], c.outputs[k])
            if groups == "unpaired":
                return call, "not equivariant", k
            if isinstance(groups, list) and _differ(value, groups):
                return call, "rounding", k
    return None


def _site(call: OpCall, cause: str, output: int, dtype: str) -> OpSite:
    which = f" (output {output})" if len(call.outputs) > 1 else ""
    explanation = CAUSES[cause].format(dtype=dtype) + which
    return OpSite(
        call.index, call.op, call.phase, call.module, call.autograd_node, cause, explanation
    )


def _stage(space: UnitSpace, units: Sequence[int], grads: dict[str, np.ndarray]) -> tuple:
    differing = tuple(
        dict.fromkeys(
            ref.parameter
            for ref in space.axes
            if ref.parameter in grads
            and relative_spread({ref.parameter: grads[ref.parameter]}, _one(space, ref), units) > 0
        )
    )
    return ("gradient", differing) if differing else ("optimizer", ())


def _one(space: UnitSpace, ref: AxisRef) -> UnitSpace:
    return dataclasses.replace(space, axes=(ref,))


def _unfixed(
    found: ModuleTies,
    space: UnitSpace,
    perm: Sequence[int],
    training: dict[str, dict[str, np.ndarray]],
) -> str:
    """The part of the training state that ``perm`` does not map onto itself ("" if none):
    ``"parameters"`` or an optimiser state's name."""
    for key, arrays in training.items():
        values = {**found.translation.values, **arrays}
        moved = apply_permutation(found.translation.graph, values, space, perm)
        if not all(np.array_equal(moved[r.parameter], values[r.parameter]) for r in space.axes):
            return key or "parameters"
    return ""


def locate_first_difference(
    model: torch.nn.Module,
    make_optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
    args: Sequence[object],
    targets: torch.Tensor,
    survival: ClassSurvival,
    *,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    rng_state: torch.Tensor | None = None,
    found: ModuleTies | None = None,
) -> Location | None:
    """Replay the run of ``survival`` to its first difference and locate it (None if the
    class stayed exact).

    Costs a replay of the run up to that step (a copy of the module and its
    optimiser per step) and three recorded steps; a step that touches more
    than :data:`~symcheck.torch.optrace.MAX_ENTRIES` tensor entries is not
    recorded (``note`` says so). ``rng_state`` is torch's RNG state when the
    run started (default: the current one); ``found`` the module's ties
    (default: computed here).
    """
    step = survival.first_nonzero
    if step is None:
        return None
    tie = survival.tie
    found = found if found is not None else module_ties(model, tuple(args))
    space = found.symmetries.space(tie.space)
    criterion = loss if loss is not None else torch.nn.MSELoss()
    start = rng_state if rng_state is not None else torch.get_rng_state()

    def where(stage, parameters, note, pair=None, site=None) -> Location:  # type: ignore[no-untyped-def]
        return Location(tie.space, tie.units, step, stage, parameters, pair, site, note)

    first_step, before, at_step = _first_untied_step(
        model, make_optimizer, args, targets, criterion, start, space, tie.units, step
    )
    if first_step is None:
        return where(None, (), "not located: the replayed run does not reproduce the spread")
    step = first_step
    run = copy.deepcopy(before)
    torch.set_rng_state(at_step)
    try:
        trace = record_step(*run, args, targets, criterion)
    except TraceTooLarge as exc:
        return where(None, (), f"not located: {exc}")
    after = _training_state(run)
    if _untied(after, space, tie.units) == 0:
        return where(None, (), "not located: the replayed run does not reproduce the spread")
    stage, parameters = _stage(space, tie.units, trace.gradients)
    first = tie.units[0]
    other = max(tie.units[1:], key=lambda u: _untied(after, space, (first, u)))
    pair = (first, other)
    perm = _power_to(tie, first, other)
    unfixed = _unfixed(found, space, perm, _training_state(before))
    if unfixed:
        note = (
            f"op not located: the {unfixed} of units {first} and {other} are not exactly "
            f"tied before step {step} (an array on two axes of the space)"
        )
        return where(stage, parameters, note, pair)
    state = state_arrays(before[0])
    trainable = list(state)
    delta = _perturbation(state, trainable, space, first)
    full = {**{n: np.zeros_like(v) for n, v in found.translation.values.items()}, **delta}
    moved = apply_permutation(found.translation.graph, full, space, perm)
    delta_other = {n: moved[n] for n in delta}
    args64 = tuple(
        a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args
    )
    targets64 = targets.double() if targets.is_floating_point() else targets
    probes = []
    try:
        for shift in (delta, delta_other):
            torch.set_rng_state(at_step)
            probes.append(record_step(*_perturbed(before, shift), args64, targets64, criterion))
    except TraceTooLarge as exc:
        return where(stage, parameters, f"op not located: {exc}", pair)
    moved_first, moved_other = probes
    if not _shapes_match(trace.calls, moved_first.calls, moved_other.calls):
        note = "op not located: the float64 replay ran different ops than the run"
        return where(stage, parameters, note, pair)
    dtype = str(next(before[0].parameters()).dtype).removeprefix("torch.")
    found_op = _first_op(trace, moved_first, moved_other)
    if found_op is None:
        note = (
            f"op not located (unknown): no op's output differs between units {first} and "
            f"{other} in a way the float64 replay can pair"
        )
        return where(stage, parameters, note, pair)
    site = _site(*found_op, dtype)
    return where(stage, parameters, site.explanation, pair, site)


def _first_untied_step(
    model: torch.nn.Module,
    make_optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
    args: Sequence[object],
    targets: torch.Tensor,
    criterion: Loss,
    start: torch.Tensor,
    space: UnitSpace,
    units: Sequence[int],
    last: int,
) -> tuple[int | None, Replay, torch.Tensor]:
    """The first step (at most ``last``) after which the parameters or the optimiser state of
    ``units`` differ, the copy and optimiser before it and torch's RNG state then."""
    torch.set_rng_state(start)
    trained = copy.deepcopy(model).train()
    replay: Replay = (trained, make_optimizer(trained.parameters()))
    for count in range(1, last + 1):
        rng = torch.get_rng_state()
        previous = copy.deepcopy(replay)
        training_step(replay, args, targets, criterion)
        if _untied(_training_state(replay), space, units) > 0:
            return count, previous, rng
    return None, replay, torch.get_rng_state()
