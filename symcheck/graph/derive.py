r"""The derivation of the gradients on a graph, as a :class:`~symcheck.prove.proof.Proof`.

:func:`derive_graph` is ``symcheck derive MODEL`` for zoo models and graph
files (theory: docs/theory.md, T1 and reverse mode). Its steps:

1. **Point**: the init point (:mod:`symcheck.graph.points`).
2. **One step per node**, in order: the op, the output shape, the forward
   formula and the local derivative (:mod:`symcheck.graph.formulas`). For an
   activation, :math:`\varphi` and :math:`\varphi'` are the SymPy form of the
   activation registry and its ``sympy.diff``; for the loss,
   :math:`\ell(z, y)` and :math:`\partial\ell/\partial z_0` likewise (for at
   most :data:`LOSS_WIDTH` outputs, else named only).
3. **Reverse mode**: the adjoint :math:`\bar v = \partial L/\partial v` of
   every value that leads to a parameter, in reverse order, summed over the
   value's readers, :math:`\bar v = \sum_{u \text{ reads } v} \bar u\,
   \partial u/\partial v`; then the gradient of every parameter.
4. **One step per movable unit space** (:mod:`symcheck.graph.symmetry`): the
   parameter axes it acts on and the tie classes the init point has in it,
   each certified by a permutation fixing the point (:mod:`symcheck.graph.ties`).
5. **Symmetry argument**: the structural evidence of T1
   (:func:`symcheck.graph.evidence.structural`: every node equivariant, the
   boundary fixed, every class certified). Only when it is complete does the
   derivation say that the units of a class receive identical gradients
   (gradient slices mapped onto each other by the class's permutations);
   otherwise it says that the argument is not certified and claims nothing.

Bounded before the work: at most ``LIMITS.derive_nodes`` nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import SYMPY, Backend
from symcheck.graph.evidence import Claim, structural
from symcheck.graph.formulas import adjoint_slots, render_node, tex_name
from symcheck.graph.ir import Graph, Node
from symcheck.graph.ops import get_op
from symcheck.graph.points import Point, init_point
from symcheck.graph.symmetry import AxisRef, UnitSpace, infer_symmetries, space_text
from symcheck.graph.ties import TieClasses, classes_at, resolve_graph
from symcheck.limits import LIMITS
from symcheck.prove.proof import PROVED, Proof, Step

__all__ = ["LOSS_WIDTH", "derive_graph"]

#: Widest output whose loss is written out by SymPy (wider ones are named only).
LOSS_WIDTH = 4


def _check_size(graph: Graph, name: str) -> None:
    if len(graph.nodes) > LIMITS.derive_nodes:
        raise InvalidArgument(
            f"model {name} has {len(graph.nodes)} nodes, beyond the derive limit of "
            f"{LIMITS.derive_nodes}; use a smaller model (fewer layers)"
        )


def _form(fn: Callable[[Backend, np.ndarray], np.ndarray]) -> str:
    """LaTeX of an elementwise form on the SymPy backend; by the sign of z where it branches."""
    z = sp.Symbol("z")
    try:
        return sp.latex(fn(SYMPY, np.array([z], dtype=object))[0])
    except ValueError:  # the kernel branches on the sign of z (elu): each branch exactly
        cases = [
            (sp.Symbol("z", positive=True), "z > 0"),
            (sp.Integer(0), "z = 0"),
            (sp.Symbol("z", negative=True), "z < 0"),
        ]
        rows = [
            f"{sp.latex(fn(SYMPY, np.array([v], dtype=object))[0])} & {cond}" for v, cond in cases
        ]
        return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"


def _activation_lines(name: str) -> tuple[list[str], str]:
    """phi and phi' of the activation registry by SymPy, and its convention (if any)."""
    from symcheck.graph.kernels.elementwise import get_elementwise
    from symcheck.model.activations import get_activation

    entry = get_elementwise(name)
    lines = [
        rf"\varphi(z) = {_form(entry.value)}",
        rf"\varphi'(z) = {_form(entry.derivative)}",
    ]
    try:
        convention = get_activation(name).convention
    except InvalidArgument:  # gelu, silu, ...: not in the chain registry, no convention
        convention = ""
    return lines, convention


def _loss_lines(graph: Graph) -> list[str]:
    """L from the per-sample loss, and ell, d ell / d z_0 by SymPy for a narrow output."""
    from symcheck.model.losses import LOSSES

    assert graph.loss is not None
    out = tex_name(graph.output)
    target = tex_name(graph.loss.target)
    batch = graph.shape(graph.output)[0]
    mean = graph.loss.reduction == "mean"
    scale = rf"\tfrac{{1}}{{{batch}}}" if mean else ""
    lines = [
        rf"L = {scale}\sum_{{n}} \ell({out}_{{n}}, {target}_{{n}})"
        r"\ (\text{every position after the sample axis summed into } \ell)"
    ]
    width = graph.shape(graph.output)[-1]
    if width <= LOSS_WIDTH:
        zs = sp.symbols(f"z_0:{width}")
        ys = sp.symbols(f"y_0:{width}")
        value = LOSSES[graph.loss.name].sympy(zs, ys)
        lines.append(rf"\ell(z, y) = {sp.latex(value)}")
        lines.append(rf"\frac{{\partial \ell}}{{\partial z_0}} = {sp.latex(sp.diff(value, zs[0]))}")
    else:
        lines.append(rf"\ell = \text{{{graph.loss.name}}} \text{{ on {width} outputs}}")
    lines.append(rf"\bar{{{out}}}_{{n}} = {scale}\,\partial \ell / \partial z\,({out}_{{n}})")
    return lines


def _node_step(graph: Graph, k: int, node: Node, conventions: list[str]) -> Step:
    op = get_op(node.op)
    rendered = render_node(node)
    math = [rendered.forward, *rendered.local]
    if node.op == "activation":
        lines, convention = _activation_lines(str(node.attr_dict["name"]))
        math += lines
        if convention:
            conventions.append(convention)
    args = ", ".join((*node.inputs, *node.params))
    text = f"{op.doc}; output shape {graph.shape(node.output)}"
    if rendered.notes:
        text += f"; {rendered.notes}"
    return Step(f"Node {k}: {node.output} = {node.op}({args})", text + ".", tuple(math))


def _depends(graph: Graph) -> set[str]:
    """The values and parameters that lead to a parameter (reverse mode visits only those)."""
    found = set(graph.parameter_names)
    for node in graph.nodes:
        if any(a in found for a in (*node.inputs, *node.params)):
            found.add(node.output)
    return found


def _adjoints(graph: Graph) -> tuple[Step, Step]:
    """Reverse mode: the adjoint of every value in reverse order, then every parameter's."""
    depends = _depends(graph)
    parts: dict[str, list[str]] = {}
    for node in reversed(graph.nodes):
        rendered = dict(render_node(node).adjoints)
        for _, name in adjoint_slots(node):
            if name in depends:
                parts.setdefault(name, []).append(rendered[name])
    if graph.loss is not None:  # the loss reads the output: the first term of its adjoint
        loss_term = rf"\partial L / \partial {tex_name(graph.output)} \text{{ (the loss, above)}}"
        parts.setdefault(graph.output, []).insert(0, loss_term)
    values = [
        rf"\bar{{{tex_name(node.output)}}} = " + " + ".join(parts[node.output])
        for node in reversed(graph.nodes)
        if node.output in parts and node.output in depends
    ]
    gradients = [
        rf"\frac{{\partial L}}{{\partial {tex_name(p)}}} = " + " + ".join(parts.get(p, ["0"]))
        for p in graph.parameter_names
    ]
    return (
        Step(
            "Reverse mode",
            "The adjoint v-bar = dL/dv of every value that leads to a parameter, in reverse "
            "order: the sum over the value's readers u of u-bar times du/dv "
            "(the formulas of the nodes above).",
            tuple(values),
        ),
        Step(
            "Parameter gradients",
            f"The gradient of each of the {len(graph.parameters)} parameter tensors "
            f"({graph.parameter_count()} entries): the sum of its readers' contributions.",
            tuple(gradients),
        ),
    )


def _slice(ref: AxisRef, rank: int, unit: str) -> str:
    """The entries of unit ``unit`` along ``ref``: ``p[:, u]`` or a description of its block."""
    if ref.block == 1 and ref.outer_axis is None and ref.between == 1:
        index = [":"] * rank
        index[ref.axis] = unit
        return f"{ref.parameter}[{', '.join(index)}]"
    blocks = f"block of {ref.block} entries" if ref.block > 1 else "entry"
    outer = f", per entry of axis {ref.outer_axis}" if ref.outer_axis is not None else ""
    return f"{ref.parameter} (axis {ref.axis}: the {blocks} of unit {unit}{outer})"


def _space_step(graph: Graph, space: UnitSpace, ties: TieClasses) -> Step:
    found = next((s for s in ties.spaces if s.space == space.name), None)
    classes = found.classes if found is not None else ()
    slices = "; ".join(_slice(r, len(graph.shape(r.parameter)), "u") for r in space.axes)
    if not classes:
        at = f"at the '{ties.init}' point no two units are tied (no certified class)"
    else:
        listed = "; ".join("{" + ", ".join(map(str, c)) + "}" for c in classes)
        at = (
            f"at the '{ties.init}' point the certified tie classes are {listed}, each by the "
            "cycle through the class, which fixes the point exactly"
        )
    return Step(
        f"Unit space {space.name}",
        f"{space_text(space)}. Unit u owns the slices {slices}; {at}.",
    )


def _symmetry_step(graph: Graph, point: Point, symmetries, ties: TieClasses) -> tuple[Step, str]:
    """What T1 gives at this point, from the structural evidence (or why nothing is claimed)."""
    certified = {s.space: s.classes for s in ties.spaces}
    claims: list[Claim] = [
        (s, certified[s.name]) for s in symmetries.movable if certified.get(s.name)
    ]
    if not claims:
        return (
            Step(
                "Symmetry argument (T1)",
                f"No unit space has a tie class at the '{point.name}' point, so the symmetry "
                "argument gives no identical gradients here"
                + (" (random init breaks ties: T4)." if point.name == "random" else "."),
            ),
            "none",
        )
    evidence = structural(graph, symmetries, point, ties, claims)
    spaces = "; ".join(
        f"{s.name} " + " ".join("{" + ", ".join(map(str, c)) + "}" for c in cs) for s, cs in claims
    )
    if evidence.verdict != PROVED:
        failed = next(r for r in evidence.residuals if r.status != "zero")
        return (
            Step(
                "Symmetry argument (T1)",
                f"Not certified: {failed.label} is {failed.status} ({failed.method}). No "
                "identical-gradient claim is made for the classes "
                f"{spaces}.",
            ),
            "unknown",
        )
    checks = evidence.facts["op_checks_distinct"]
    return (
        Step(
            "Symmetry argument (T1)",
            f"Certified: every node is equivariant under the generators of every unit space "
            f"({checks} distinct exact op checks), the inputs, output and target carry no "
            "permuted axis, and each class's cycle g fixes the point. Hence "
            "grad L(theta0) = h grad L(theta0) for every power h of g: for units u, v of one "
            "class, h mapping u to v, the gradient slices of v above are those of u moved by h "
            "(entry for entry where h moves no other axis of the slice), so the units of a "
            f"class receive identical updates. Classes: {spaces}.",
            (r"g\theta_0 = \theta_0 \Rightarrow \nabla L(\theta_0) = g\,\nabla L(\theta_0)",),
        ),
        "proved",
    )


def derive_graph(
    model: Graph | str,
    *,
    init: str | Mapping[str, object] | Point = "random",
    value: object = None,
    seed: int = 0,
) -> Proof:
    """The gradient derivation of ``model`` at ``init`` (see the module docstring)."""
    graph, name = resolve_graph(model)
    _check_size(graph, name)
    point = init_point(graph, init, value=value, seed=seed)
    symmetries = infer_symmetries(graph)
    ties = classes_at(graph, point, symmetries, model=name)
    conventions: list[str] = []
    steps = [Step("Point", f"Init '{point.name}': {point.description}.")]
    steps += [_node_step(graph, k, node, conventions) for k, node in enumerate(graph.nodes, 1)]
    if graph.loss is not None:
        steps.append(
            Step(
                f"Loss {graph.loss.name} ({graph.loss.reduction})",
                "The registry's SymPy form of the per-sample loss and its derivative.",
                tuple(_loss_lines(graph)),
            )
        )
    steps += _adjoints(graph)
    movable = symmetries.movable
    steps.append(
        Step(
            "Unit spaces",
            f"{len(movable)} movable unit spaces inferred by union-find, "
            f"{len(symmetries.spaces) - len(movable)} fixed.",
        )
    )
    steps += [_space_step(graph, space, ties) for space in movable]
    symmetry, verdict = _symmetry_step(graph, point, symmetries, ties)
    steps.append(symmetry)
    return Proof(
        theorem="derivation",
        statement=(
            f"Gradient derivation of {name} at the '{point.name}' init: node by node, reverse "
            "mode, and what the symmetry argument gives at this point."
        ),
        verdict=PROVED,
        network=name,
        assumptions=tuple(dict.fromkeys(conventions)),
        steps=tuple(steps),
        conclusion=(
            f"{len(graph.nodes)} nodes, {graph.parameter_count()} parameter entries, "
            f"{len(movable)} movable unit spaces; symmetry argument: {verdict}."
        ),
        facts={
            "model": name,
            "init": point.name,
            "nodes": len(graph.nodes),
            "parameters": graph.parameter_count(),
            "symmetry": verdict,
            "ties": ties.to_json(),
        },
    )
