r"""The symmetry theorems on any graph (theory: docs/theory.md, T1, T2, T4) as ``Proof`` records.

* :func:`prove_identical_updates` (T1): the units the init ties receive
  identical gradients, for every input and target.
* :func:`prove_preserved` (T2): one step of an optimiser of
  :data:`symcheck.model.optimizers.SYMBOLIC_OPTIMIZERS` from the init with its
  state at 0 (structural) or tied (computational) keeps every tie; by
  induction, every step does.
* :func:`prove_symmetry_breaks` (T4): at a seeded random point, two units of
  every movable space receive different gradients (an exact witness).

``model`` is a :class:`~symcheck.graph.ir.Graph` or any spec
:func:`~symcheck.graph.zoo.resolve_model` accepts. ``kind`` chooses the
evidence (:mod:`symcheck.graph.evidence`): ``structural`` (any size),
``computational`` (small graphs), ``both``, or ``auto`` (both when the graph
is small enough for the computational proof, else structural). With two
kinds the verdict is ``proved`` when one proves and none refutes,
``refuted`` when one refutes and none proves, and ``unknown`` when they
disagree (that would be a bug; it is reported, never hidden).

The claim: for the init patterns (``zero``, ``constant``, ``tied``,
``random``) every unit of a movable space is tied to every other (within its
block for a restricted space), as the chain theorems claim for hidden
neurons; for given parameters, the certified tie classes
(:mod:`symcheck.graph.ties`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symcheck.errors import InvalidArgument, choices_message
from symcheck.graph.evidence import (
    MAX_COMPUTATIONAL_PARAMETERS,
    Claim,
    Evidence,
    computational,
    structural,
)
from symcheck.graph.ir import Graph
from symcheck.graph.points import INITS, Point, init_point
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.ties import classes_at, resolve_graph
from symcheck.model.optimizers import get_symbolic_optimizer
from symcheck.prove.proof import PROVED, REFUTED, UNKNOWN, Proof, Step

__all__ = [
    "KINDS",
    "THEOREMS",
    "prove_identical_updates",
    "prove_preserved",
    "prove_symmetry_breaks",
    "prove_theorems",
]

KINDS = ("auto", "structural", "computational", "both")

_T1 = (
    r"f(g\theta, x) = f(\theta, x) \Rightarrow \nabla L(g\theta) = g\,\nabla L(\theta)",
    r"g\theta_0 = \theta_0 \Rightarrow \nabla L(\theta_0) = g\,\nabla L(\theta_0)",
)
_T2 = (
    r"U(g\theta, g\nabla, g s) = g\,U(\theta, \nabla, s),\quad g\theta_0 = \theta_0,\ gs_0 = s_0",
)


def _kinds(kind: str, graph: Graph) -> tuple[str, ...]:
    if kind not in KINDS:
        raise InvalidArgument(choices_message("kind", kind, KINDS))
    if kind == "auto":
        small = graph.parameter_count() <= MAX_COMPUTATIONAL_PARAMETERS
        return ("structural", "computational") if small else ("structural",)
    if kind == "both":
        return ("structural", "computational")
    return (kind,)


def _claims(symmetries: Any, init: object, ties: Any) -> list[Claim]:
    if isinstance(init, str) and init in INITS:
        out = []
        for space in symmetries.movable:
            blocks = space.blocks if space.group == "restricted" else (tuple(range(space.size)),)
            out.append((space, tuple(b for b in blocks if len(b) > 1)))
        return [c for c in out if c[1]]
    found = {s.space: s.classes for s in ties.spaces}
    return [(s, found[s.name]) for s in symmetries.movable if found.get(s.name)]


def _combine(evidence: list[Evidence]) -> str:
    verdicts = {e.verdict for e in evidence}
    if PROVED in verdicts and REFUTED in verdicts:
        return UNKNOWN
    if PROVED in verdicts:
        return PROVED
    if REFUTED in verdicts:
        return REFUTED
    return UNKNOWN


def _run(
    theorem: str,
    model: Graph | str,
    *,
    init: str | Mapping[str, object] | Point,
    value: object,
    seed: int,
    kind: str,
    optimizer: str | None,
) -> Proof:
    graph, name = resolve_graph(model)
    kinds = _kinds(kind, graph)
    opt = get_symbolic_optimizer(optimizer) if optimizer is not None else None
    point = init_point(graph, init, value=value, seed=seed)
    symmetries = infer_symmetries(graph)
    ties = classes_at(graph, point, symmetries, model=name)
    claims = _claims(symmetries, init, ties)
    runs = {
        "structural": lambda: structural(graph, symmetries, point, ties, claims, optimizer=opt),
        "computational": lambda: computational(
            graph, point, claims, optimizer=opt, symbolic=point.name != "random"
        ),
    }
    evidence = [runs[k]() for k in kinds]
    verdict = _combine(evidence)
    pairs = sum(len(u) - 1 for _, classes in claims for u in classes)
    spaces = ", ".join(f"{s.name} ({len(c)} class(es))" for s, c in claims) or "none"
    what = (
        "receives identical gradients"
        if opt is None
        else f"is still tied after one {opt.name} step (parameters and optimiser state)"
    )
    statement = (
        f"At the '{point.name}' init of {name}, every claimed pair of tied units ({pairs} pair(s) "
        f"in {spaces}) {what}, for all inputs and targets."
    )
    assumptions = [
        f"loss {graph.loss.name if graph.loss else 'none'}, reduction "
        f"{graph.loss.reduction if graph.loss else '-'}",
        "op equivariance is checked exactly on a small generic instance of each node "
        "(kernels are uniform in the sizes)",
    ]
    for e in evidence:
        assumptions.extend(e.facts.get("assumptions", ()))
    if opt is not None:
        assumptions.append(f"optimizer {opt.name}; state starts at 0 (structural) or tied")
    steps = [
        Step("Point", f"Init '{point.name}': {point.description}."),
        Step(
            "Unit spaces",
            f"{len(symmetries.movable)} movable unit spaces inferred by union-find; claimed "
            f"tie classes in {spaces}.",
        ),
    ]
    if "structural" in kinds:
        steps.append(
            Step(
                "Structural",
                "Every node is equivariant under the generators of every unit space it touches "
                "(checked exactly, op by op); the inputs and output are fixed; each claimed "
                "class is certified by a cycle that fixes the init exactly.",
                _T1 + (_T2 if opt is not None else ()),
            )
        )
    if "computational" in kinds:
        steps.append(
            Step(
                "Computational",
                "Loss and gradients on the SymPy backend (reverse mode through the kernels); "
                "for every claimed pair the residual Q - tau Q is zero-tested, or refuted at a "
                "rational point where it is certified non-zero.",
            )
        )
    witness = next((e.witness for e in evidence if e.witness), None)
    conclusion = {
        PROVED: "Every claimed tie holds" + (" after the step." if opt else "."),
        REFUTED: "A claimed pair differs at the exact rational witness.",
        UNKNOWN: "Not every residual could be decided"
        + (" (the two kinds disagree)." if len({e.verdict for e in evidence}) > 1 else "."),
    }[verdict]
    return Proof(
        theorem=theorem,
        statement=statement,
        verdict=verdict,
        network=name,
        assumptions=tuple(assumptions),
        steps=tuple(steps),
        residuals=tuple(r for e in evidence for r in e.residuals),
        witness=witness,
        conclusion=conclusion,
        facts={
            "recipe": {
                "theorem": theorem,
                "model": name,
                "init": point.name,
                "value": None if value is None else str(value),
                "seed": seed,
                "optimizer": opt.name if opt else None,
                "kind": kind,
            },
            "graph": graph.digest(),
            "kinds": {e.kind: e.verdict for e in evidence},
            "ties": ties.to_json(),
            **{
                f"{e.kind}_{k}": v
                for e in evidence
                for k, v in e.facts.items()
                if k != "assumptions"
            },
        },
    )


def prove_identical_updates(
    model: Graph | str,
    *,
    init: str | Mapping[str, object] | Point = "zero",
    value: object = None,
    seed: int = 0,
    kind: str = "auto",
) -> Proof:
    """T1: the units ``init`` ties receive identical gradients (see the module docstring)."""
    return _run(
        "identical_updates", model, init=init, value=value, seed=seed, kind=kind, optimizer=None
    )


def prove_preserved(
    model: Graph | str,
    *,
    init: str | Mapping[str, object] | Point = "zero",
    optimizer: str = "sgd",
    value: object = None,
    seed: int = 0,
    kind: str = "auto",
) -> Proof:
    """T2: one step of ``optimizer`` keeps every tie of ``init`` (so every step does)."""
    return _run(
        "preserved", model, init=init, value=value, seed=seed, kind=kind, optimizer=optimizer
    )


def prove_symmetry_breaks(model: Graph | str, *, seed: int = 0) -> Proof:
    """T4: at a seeded random point, units 0 and 1 of every movable space get different gradients.

    Computational only (an exact witness per space); ``proved`` when every
    space with two units has one, else ``unknown``.
    """
    from symcheck.graph.evidence import abstract_activations, check_size, stand_in_note
    from symcheck.graph.evidence import computational as run

    graph, name = resolve_graph(model)
    check_size(graph)
    point = init_point(graph, "random", seed=seed)
    symmetries = infer_symmetries(graph)
    residuals, witnesses, missing = [], {}, []
    for space in symmetries.movable:
        block = (
            space.blocks[0] if space.group == "restricted" and space.blocks else range(space.size)
        )
        if len(block) < 2:
            continue
        e = run(graph, point, [(space, ((block[0], block[1]),))], symbolic=False)
        if e.verdict == REFUTED:
            residuals.extend(e.residuals)
            witnesses.update(e.witness or {})
        else:
            missing.append(space.name)
    verdict = PROVED if residuals and not missing else UNKNOWN
    return Proof(
        theorem="symmetry_breaks",
        statement=(
            f"At a seeded random point of {name} (seed {seed}), units 0 and 1 of every movable "
            "unit space receive gradients that differ for some input and target."
        ),
        verdict=verdict,
        network=name,
        assumptions=(
            "parameters: seeded standard normal float64 draws, as exact rationals",
            *((stand_in_note(),) if abstract_activations(graph) else ()),
        ),
        steps=(
            Step(
                "Witness",
                "Inputs and targets take small seeded rational values; the residual "
                "is evaluated exactly or certified by interval arithmetic.",
            ),
            Step(
                "Almost surely",
                "For analytic activations and loss the residual is analytic in "
                "the parameters and data and not identically zero, so it vanishes only on a "
                "null set: random init breaks each symmetry almost surely.",
            ),
        ),
        residuals=tuple(residuals),
        witness=witnesses or None,
        conclusion=(
            "Every movable space's symmetry breaks at the witness."
            if verdict == PROVED
            else f"No witness for {missing}."
        ),
        facts={
            "recipe": {"theorem": "symmetry_breaks", "model": name, "seed": seed},
            "graph": graph.digest(),
        },
    )


#: Theorem name -> function.
THEOREMS = {
    "identical_updates": prove_identical_updates,
    "preserved": prove_preserved,
    "symmetry_breaks": prove_symmetry_breaks,
}


def prove_theorems(
    model: Graph | str,
    *,
    init: str | Mapping[str, object] | Point = "zero",
    value: object = None,
    seed: int = 0,
    kind: str = "auto",
    optimizer: str | None = None,
    breaks: bool = False,
) -> list[Proof]:
    """What ``symcheck prove MODEL`` checks: identical updates, one ``optimizer`` step if
    given, and (``breaks``) that random init breaks every space."""
    common = {"init": init, "value": value, "seed": seed, "kind": kind}
    proofs = [prove_identical_updates(model, **common)]
    if optimizer is not None:
        proofs.append(prove_preserved(model, optimizer=optimizer, **common))
    if breaks:
        proofs.append(prove_symmetry_breaks(model, seed=seed))
    return proofs
