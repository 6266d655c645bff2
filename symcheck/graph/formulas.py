r"""The op formulas of a graph derivation: one entry per op of :data:`symcheck.graph.ops.OPS`.

Each :class:`OpFormula` states, in LaTeX, what the op's kernels compute (the
formulas of the kernel modules' docstrings, ``symcheck/graph/kernels/``):

* ``forward``: the output :math:`y` from the inputs and parameters;
* ``local``: the local derivative (Jacobian action) in words of the op's own
  quantities, where it is not one line of the adjoints;
* ``adjoints``: for every argument slot (``x0``, ``x1``, ``x2`` for inputs,
  ``x*`` for every input of a variadic op, the parameter roles ``weight``,
  ``bias``, ...), its reverse-mode contribution :math:`\bar v \mathrel{+}= \dots`
  in terms of the upstream adjoint :math:`\bar y` (theory: docs/theory.md,
  reverse mode on graphs).

Templates name the node's tensors by placeholders: ``<y>``, ``<gy>``
(:math:`\bar y`), ``<x0>``, ``<x1>``, ``<x2>``, ``<xi>`` (input ``i`` of a
variadic op), the parameter roles (``<weight>``, ``<bias>``, ``<table>``,
``<running_mean>``, ``<running_var>``, ``<value>``), ``<@name>`` for an
attribute and ``<eq>`` for the adjoint equation of an einsum operand.
:func:`render_node` fills them with the node's value names. Activations and
losses have SymPy forms in their registries; :mod:`symcheck.graph.derive`
differentiates those with ``sympy.diff`` rather than quoting a template.
Sums :math:`\sum_n` run over every leading axis (batch, sequence) of the
tensors they name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from symcheck.errors import InvalidArgument
from symcheck.graph.ir import Node
from symcheck.graph.ops import get_op

__all__ = ["FORMULAS", "OpFormula", "RenderedNode", "adjoint_slots", "render_node", "tex_name"]


@dataclass(frozen=True)
class OpFormula:
    """The LaTeX templates of one op (see the module docstring)."""

    forward: str
    adjoints: Mapping[str, str]
    local: tuple[str, ...] = ()
    notes: str = ""


_LINEAR = OpFormula(
    r"<y> = <x0>\,<weight>^{\top} + <bias>",
    {
        "x0": r"\bar{<y>}\,<weight>",
        "weight": r"\sum_{n} \bar{<y>}_{n}^{\top} <x0>_{n}",
        "bias": r"\sum_{n} \bar{<y>}_{n}",
    },
    (r"\partial <y>_{\dots o} / \partial <x0>_{\dots i} = <weight>_{o i}",),
)
_CONV = OpFormula(
    r"<y>_{b o p} = \sum_{c, a} <weight>_{o c a}\,\tilde{<x0>}_{b c,\, s p + a} + <bias>_{o}"
    r"\quad (s = <@stride>,\ \text{padding } <@padding>)",
    {
        "x0": r"\text{the adjoint of the window gather of } \bar{<y>}\,<weight>"
        r"\ \text{(padding dropped)}",
        "weight": r"\sum_{b, p} \bar{<y>}_{b o p}\,\tilde{<x0>}_{b c,\, s p + a}",
        "bias": r"\sum_{b, p} \bar{<y>}_{b o p}",
    },
    (r"\partial <y>_{b o p} / \partial \tilde{<x0>}_{b c,\, s p + a} = <weight>_{o c a}",),
    "p and a run over every spatial axis; the input is zero-padded to x-tilde",
)
_POOL_STRIDE = (
    r"\ (\text{kernel } <@kernel>,\ \text{stride } <@stride>" + r"\text{; default: the kernel})"
)
_VIEW = r"\bar{<y>} \text{ moved back (the inverse move)}"
_LAYER_NORM = OpFormula(
    r"<y> = \hat{x}\,<weight> + <bias>,\quad \hat{x} = (<x0> - \mu)\,r,\quad "
    r"r = \bigl(\langle (<x0> - \mu)^2 \rangle + \varepsilon\bigr)^{-1/2}",
    {
        "x0": r"r\,\bigl(d - \langle d \rangle - \hat{x}\,\langle d\,\hat{x} \rangle\bigr),"
        r"\quad d = \bar{<y>}\,<weight>",
        "weight": r"\sum_{n} \bar{<y>}_{n}\,\hat{x}_{n}",
        "bias": r"\sum_{n} \bar{<y>}_{n}",
    },
    (r"\mu = \langle <x0> \rangle \text{ (mean over the last axis)},\ \varepsilon = <@eps>",),
)
_LOSS = OpFormula(
    r"L = \tfrac{1}{B} \sum_{n} \ell(z_n, y_n) \text{ (mean) or } \sum_n \ell(z_n, y_n)",
    {"x0": r"\partial L / \partial z", "x1": r"\partial L / \partial y"},
)

#: Op name -> its formulas.
FORMULAS: dict[str, OpFormula] = {
    "linear": _LINEAR,
    "expert_linear": OpFormula(
        r"<y>_{\dots e} = <x0>_{\dots (e)}\,<weight>_{e}^{\top} + <bias>_{e}",
        {
            "x0": r"\bar{<y>}_{\dots e}\,<weight>_{e}\ "
            r"(\text{summed over } e \text{ when the input is shared})",
            "weight": r"\sum_{n} \bar{<y>}_{n e}^{\top} <x0>_{n (e)}",
            "bias": r"\sum_{n} \bar{<y>}_{n e}",
        },
        notes="one linear map per expert e; x carries the expert axis unless shared_input",
    ),
    "conv1d": _CONV,
    "conv2d": _CONV,
    "avg_pool2d": OpFormula(
        r"<y> = \tfrac{1}{k_h k_w} \sum_{\text{window}} <x0>" + _POOL_STRIDE,
        {"x0": r"\bar{<y>} / (k_h k_w) \text{ on every entry of its window}"},
    ),
    "max_pool2d": OpFormula(
        r"<y> = \max_{\text{window}} <x0>" + _POOL_STRIDE,
        {"x0": r"\bar{<y>} \text{ at the first maximum of its window, 0 elsewhere}"},
        notes="the maximum is decided by sign tests; undecidable on symbolic entries",
    ),
    "mean": OpFormula(
        r"<y> = \tfrac{1}{m} \sum_{k} <x0>_{\dots k \dots}\ (\text{axis } <@axis>"
        r"\text{ of size } m)",
        {"x0": r"\bar{<y>} / m \text{ repeated along axis } <@axis>"},
    ),
    "activation": OpFormula(
        r"<y> = \varphi(<x0>) \text{ elementwise},\ \varphi = \text{<@name>}",
        {"x0": r"\bar{<y>} \odot \varphi'(<x0>)"},
    ),
    "add": OpFormula(r"<y> = <x0> + <x1>", {"x0": r"\bar{<y>}", "x1": r"\bar{<y>}"}),
    "mul": OpFormula(
        r"<y> = <x0> \odot <x1>",
        {"x0": r"\bar{<y>} \odot <x1>", "x1": r"\bar{<y>} \odot <x0>"},
    ),
    "flatten": OpFormula(r"<y> = \operatorname{flatten}(<x0>)", {"x0": _VIEW}),
    "split_heads": OpFormula(
        r"<y>_{b h t d} = <x0>_{b t, (h D + d)}\ (<@heads> \text{ heads})", {"x0": _VIEW}
    ),
    "merge_heads": OpFormula(r"<y>_{b t, (h D + d)} = <x0>_{b h t d}", {"x0": _VIEW}),
    "concat": OpFormula(
        r"<y> = [<x0>; \dots] \text{ along axis } <@axis>",
        {"x*": r"\text{the slice of } \bar{<y>} \text{ that holds input } <i>"},
    ),
    "stack": OpFormula(
        r"<y> = \operatorname{stack}(<x0>, \dots) \text{ on new axis } <@axis>",
        {"x*": r"\bar{<y>} \text{ at index } <i> \text{ of axis } <@axis>"},
    ),
    "layer_norm": _LAYER_NORM,
    "rms_norm": OpFormula(
        r"<y> = \hat{x}\,<weight>,\quad \hat{x} = <x0>\,r,\quad "
        r"r = \bigl(\langle <x0>^2 \rangle + \varepsilon\bigr)^{-1/2}",
        {
            "x0": r"r\,\bigl(d - \hat{x}\,\langle d\,\hat{x} \rangle\bigr),"
            r"\quad d = \bar{<y>}\,<weight>",
            "weight": r"\sum_{n} \bar{<y>}_{n}\,\hat{x}_{n}",
        },
        (r"\langle \cdot \rangle \text{ the mean over the last axis},\ \varepsilon = <@eps>",),
    ),
    "batch_norm": OpFormula(
        r"<y> = (<x0> - <running_mean>)\,r\,<weight> + <bias>,\quad "
        r"r = (<running_var> + \varepsilon)^{-1/2}\ (\text{per channel, axis } 1)",
        {
            "x0": r"\bar{<y>}\,r\,<weight>",
            "weight": r"\sum \bar{<y>}\,\hat{x},\quad \hat{x} = (<x0> - <running_mean>)\,r",
            "bias": r"\sum \bar{<y>}",
            "running_mean": r"-r\,<weight> \sum \bar{<y>}",
            "running_var": r"-\tfrac{1}{2} r^{2}\,<weight> \sum \bar{<y>}\,\hat{x}",
        },
        notes="inference statistics are parameters; sums over every axis but the channel",
    ),
    "embedding": OpFormula(
        r"<y>_{n} = <table>_{<x0>_{n}}",
        {"table": r"\sum_{n:\ <x0>_{n} = v} \bar{<y>}_{n} \text{ in row } v"},
        notes="token ids are integers and get no adjoint",
    ),
    "softmax": OpFormula(
        r"<y>_{i} = e^{<x0>_{i}} / \sum_{j} e^{<x0>_{j}}\ (\text{axis } <@axis>)",
        {"x0": r"<y> \odot \bigl(\bar{<y>} - \sum_{j} \bar{<y>}_{j} <y>_{j}\bigr)"},
        (r"\partial <y>_{i} / \partial <x0>_{j} = <y>_{i} (\delta_{ij} - <y>_{j})",),
    ),
    "sdpa": OpFormula(
        r"<y> = P\,<x2>,\quad P = \operatorname{softmax}(S),\quad S = s\,<x0>\,<x1>^{\top}"
        r"\ (\text{causal: } <@causal>)",
        {
            "x0": r"s\,\bar{S}\,<x1>,\quad "
            r"\bar{S} = P \odot \bigl(\bar{P} - \textstyle\sum_j \bar{P}_j P_j\bigr),\ "
            r"\bar{P} = \bar{<y>}\,<x2>^{\top}",
            "x1": r"s\,\bar{S}^{\top} <x0> \text{ (summed over the query heads of a group)}",
            "x2": r"P^{\top} \bar{<y>} \text{ (summed over the query heads of a group)}",
        },
        (r"s = <@scale>\ (\text{default: } 1/\sqrt{D})",),
    ),
    "rope": OpFormula(
        r"<y> = <x0> \cos\theta + R(<x0>) \sin\theta,\quad R(x) = (-x_2, x_1),\ "
        r"\theta_{t i} = t\,<@base>^{-2i/D}",
        {"x0": r"\bar{<y>} \cos\theta + R^{\top}(\bar{<y>} \sin\theta)"},
    ),
    "moe_combine": OpFormula(
        r"<y>_{\cdot d} = \sum_{e} <x0>_{\cdot e}\,<x1>_{\cdot e d}",
        {
            "x0": r"\sum_{d} \bar{<y>}_{\cdot d}\,<x1>_{\cdot e d}",
            "x1": r"<x0>_{\cdot e}\,\bar{<y>}_{\cdot d}",
        },
    ),
    "mse": _LOSS,
    "cross_entropy": _LOSS,
    "bce": _LOSS,
    "permute": OpFormula(r"<y> = <x0>^{\top (<@dims>)}", {"x0": _VIEW}),
    "reshape": OpFormula(r"<y> = \operatorname{reshape}(<x0>, (<@shape>))", {"x0": _VIEW}),
    "expand": OpFormula(
        r"<y> = \operatorname{expand}(<x0>, (<@shape>))",
        {"x0": r"\bar{<y>} \text{ summed over the repeated axes}"},
    ),
    "slice_axis": OpFormula(
        r"<y> = <x0>[<@start>:<@stop>:<@step>] \text{ along axis } <@axis>",
        {"x0": r"\bar{<y>} \text{ scattered into zeros}"},
    ),
    "parameter": OpFormula(r"<y> = <value>", {"value": r"\bar{<y>}"}),
    "einsum": OpFormula(
        r"<y> = \operatorname{einsum}(\text{<@equation>}, \dots)",
        {"x*": r"\operatorname{einsum}(\text{<eq>}, \bar{<y>}, \dots)"},
        notes="the other operands in order; a letter only in this operand is broadcast",
    ),
    "scale": OpFormula(r"<y> = <@factor>\,<x0>", {"x0": r"<@factor>\,\bar{<y>}"}),
}

_SPECIAL = {c: "\\" + c for c in "&%$#_{}"}
_SPECIAL.update({"\\": r"\backslash{}", "~": r"\sim{}", "^": r"\hat{}"})
_PLACEHOLDER = re.compile(r"<(@?[a-z_*0-9]+)>")


def tex_name(name: str) -> str:
    r"""A value or parameter name as LaTeX math: ``\mathtt{fc1.weight}``, specials escaped."""
    return r"\mathtt{" + "".join(_SPECIAL.get(c, c) for c in name) + "}"


def _attr_tex(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_attr_tex(v) for v in value)
    if value is None:
        return r"\text{default}"
    return "".join(_SPECIAL.get(c, c) for c in str(value))


def _einsum_adjoint(equation: str, operand: int) -> str:
    """The einsum that gives operand ``operand``'s adjoint: ``out,others->operand``."""
    left, out = equation.replace(" ", "").split("->")
    operands = left.split(",")
    others = [s for k, s in enumerate(operands) if k != operand]
    return ",".join([out, *others]) + "->" + operands[operand]


@dataclass(frozen=True)
class RenderedNode:
    """One node's formulas with its names filled in."""

    forward: str
    local: tuple[str, ...]
    #: (argument name, LaTeX of its contribution) for every argument that gets one.
    adjoints: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    notes: str = ""


def adjoint_slots(node: Node) -> list[tuple[str, str]]:
    """(slot, argument name) for every input and parameter of ``node`` that gets an adjoint."""
    op = get_op(node.op)
    slots = [(f"x{i}", name) for i, name in enumerate(node.inputs) if i not in op.int_inputs]
    slots += list(zip(op.params, node.params))
    return slots


def render_node(node: Node) -> RenderedNode:
    """The formulas of ``node`` (its op's :class:`OpFormula`) with the node's names filled in."""
    if node.op not in FORMULAS:
        raise InvalidArgument(
            f"op {node.op!r} has no derivation formula; known: {sorted(FORMULAS)}"
        )
    formula = FORMULAS[node.op]
    op = get_op(node.op)
    attrs = node.attr_dict
    names = {"y": tex_name(node.output)}
    names.update({f"x{i}": tex_name(n) for i, n in enumerate(node.inputs)})
    roles = dict(zip(op.params, node.params))
    names.update({role: tex_name(name) for role, name in roles.items()})
    absent = [role for role in op.params if role not in roles]
    names.update({f"@{k}": _attr_tex(v) for k, v in attrs.items()})

    def fill(template: str, extra: Mapping[str, str] | None = None) -> str:
        for role in absent:  # "+ <bias>_{o}" and "\,<weight>" drop out
            template = re.sub(rf"\s*\+\s*<{role}>(_\{{[^{{}}]*\}})?|\\,<{role}>", "", template)
        table = {**names, **(extra or {})}
        return _PLACEHOLDER.sub(lambda m: table.get(m.group(1), m.group(0)), template)

    adjoints = []
    for slot, name in adjoint_slots(node):
        index = int(slot[1:]) if slot.startswith("x") else None
        if slot in formula.adjoints:
            template, extra = formula.adjoints[slot], None
        elif index is not None and "x*" in formula.adjoints:
            template = formula.adjoints["x*"]
            extra = {"i": str(index), "xi": tex_name(name)}
            if node.op == "einsum":
                extra["eq"] = _einsum_adjoint(str(attrs["equation"]), index)
        else:
            raise InvalidArgument(
                f"op {node.op!r}: no adjoint formula for its argument {slot!r}; "
                f"it has {sorted(formula.adjoints)}"
            )
        adjoints.append((name, fill(template, extra)))
    return RenderedNode(
        fill(formula.forward),
        tuple(fill(t) for t in formula.local),
        tuple(adjoints),
        formula.notes,
    )
