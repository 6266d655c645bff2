r"""Symbolic forward pass and gradients of a :class:`~symcheck.Network` (SymPy).

Naming scheme
-------------
Every symbol is named after its place in the maths notation of docs/theory.md §1
(:math:`W^l[i, k]` is the weight from neuron :math:`k` of layer :math:`l-1`
into neuron :math:`i` of layer :math:`l`; layers are 1-based, neurons,
inputs and samples 0-based):

============  ==============================================================
``W1_0_1``    :math:`W^1[0, 1]`: layer 1, neuron 0, input 1
``b2_3``      :math:`b^2_3`: bias of neuron 3 of layer 2
``x0_1``      :math:`x_1` of sample 0 of the batch
``y2_0``      :math:`y_0` of sample 2 of the batch
``W2_t_t``    tied init: a ``t`` replaces a neuron index shared by every
              hidden neuron of the layer (``W1_t_1``: the incoming weight from
              input 1 of every neuron of layer 1; ``W3_0_t``: the weight from
              every neuron of hidden layer 2 into output 0; ``b1_t``)
``c``         constant init with a free value
============  ==============================================================

Two gradient paths
------------------
*Layered reverse mode* (:func:`layered_gradients`) differentiates only the
local maps with ``sympy.diff`` — :math:`\varphi_l` with a dummy argument, and
the per-sample loss :math:`\ell(z^L, y)` with dummy :math:`z^L, y` — and
composes them by the chain rule (Rumelhart, Hinton & Williams 1986):

.. math::

    \delta^L_o = \frac{\partial \ell}{\partial z^L_o}, \qquad
    \delta^l_k = \varphi_l'(z^l_k) \sum_i W^{l+1}[i, k]\, \delta^{l+1}_i, \qquad
    \frac{\partial L}{\partial W^l[i, k]} = c \sum_s \delta^l_i(s)\, h^{l-1}_k(s),
    \qquad \frac{\partial L}{\partial b^l_i} = c \sum_s \delta^l_i(s),

with :math:`c = 1/B` (mean) or :math:`1` (sum). Identical sub-expressions are
built once and shared (a cache keyed on the operands), so tied neurons get the
very same expression objects and comparing them is a pointer comparison.

*The plain path* (:func:`plain_gradients`) builds the whole batch loss as one
expression in the generic symbols, applies ``sympy.diff`` for every parameter
and substitutes the point afterwards. It is exponentially slower and is kept as
the reference that tests the layered path on small networks: exactly, with
:func:`symcheck.prove.zerotest.zero_test` for the analytic activations, and region by
region of the pre-activation signs, boundaries included, with
:func:`symcheck.prove.piecewise.piecewise_equal` for ``relu`` and ``leaky_relu``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import sympy as sp

from symcheck.errors import InvalidArgument, choices_message
from symcheck.limits import GROWTH, LIMITS, activation_kind, proof_cost
from symcheck.model.activations import Activation
from symcheck.model.losses import Loss
from symcheck.model.network import Network, require_layers, require_network

__all__ = [
    "INITS",
    "MAX_PLAIN_PARAMETERS",
    "MAX_SYMBOLIC_BATCH",
    "MAX_SYMBOLIC_PARAMETERS",
    "InitPoint",
    "SymGrads",
    "SymParams",
    "SymbolicPass",
    "bias_symbol",
    "canonical_derivatives",
    "check_proof_cost",
    "check_symbolic_size",
    "clear_local_derivatives",
    "constant_value",
    "data_symbols",
    "estimated_proof_cost",
    "generic_params",
    "init_point",
    "input_symbol",
    "layered_gradients",
    "parse_symbol",
    "plain_gradients",
    "symbolic_forward",
    "target_symbol",
    "weight_symbol",
]

Row = tuple[sp.Expr, ...]
#: One ``(W rows, b)`` pair per layer; ``b`` is ``None`` without biases.
SymParams = tuple[tuple[tuple[Row, ...], "Row | None"], ...]
SymGrads = SymParams

#: Largest parameter count the layered symbolic path accepts (``LIMITS.symbolic_parameters``).
MAX_SYMBOLIC_PARAMETERS = LIMITS.symbolic_parameters
#: Largest parameter count of the plain ``sympy.diff`` path (``LIMITS.plain_parameters``).
MAX_PLAIN_PARAMETERS = LIMITS.plain_parameters
#: Largest symbolic batch (``LIMITS.symbolic_batch``).
MAX_SYMBOLIC_BATCH = LIMITS.symbolic_batch

_NAME = re.compile(r"^(?:W(\d+)_(\d+|t)_(\d+|t)|b(\d+)_(\d+|t)|([xy])(\d+)_(\d+))$")


def weight_symbol(layer: int, neuron: int | str, source: int | str) -> sp.Symbol:
    r"""The symbol ``W{layer}_{neuron}_{source}`` for :math:`W^{l}[i, k]`."""
    return sp.Symbol(f"W{layer}_{neuron}_{source}")


def bias_symbol(layer: int, neuron: int | str) -> sp.Symbol:
    r"""The symbol ``b{layer}_{neuron}`` for :math:`b^l_i`."""
    return sp.Symbol(f"b{layer}_{neuron}")


def input_symbol(sample: int, k: int) -> sp.Symbol:
    """The symbol ``x{sample}_{k}``: input ``k`` of sample ``sample``."""
    return sp.Symbol(f"x{sample}_{k}")


def target_symbol(sample: int, k: int) -> sp.Symbol:
    """The symbol ``y{sample}_{k}``: target ``k`` of sample ``sample``."""
    return sp.Symbol(f"y{sample}_{k}")


def parse_symbol(name: str) -> tuple[str, int, int | str, int | str | None]:
    """Split a symbol name of the scheme into ``(kind, a, b, c)``.

    ``"W1_0_2"`` gives ``("W", 1, 0, 2)``, ``"b2_t"`` gives ``("b", 2, "t", None)``,
    ``"x0_1"`` gives ``("x", 0, 1, None)``.
    """
    m = _NAME.match(name)
    if not m:
        raise InvalidArgument(
            f"symbol {name!r} does not follow the naming scheme; use W<l>_<i>_<k>, "
            "b<l>_<i>, x<s>_<k> or y<s>_<k> (a 't' for a tied neuron index)"
        )

    def idx(v: str) -> int | str:
        return v if v == "t" else int(v)

    if m.group(1):
        return ("W", int(m.group(1)), idx(m.group(2)), idx(m.group(3)))
    if m.group(4):
        return ("b", int(m.group(4)), idx(m.group(5)), None)
    return (m.group(6), int(m.group(7)), int(m.group(8)), None)


def check_symbolic_size(network: Network, *, batch: int = 1, plain: bool = False) -> None:
    """Raise :class:`InvalidArgument` when ``network`` is too large to treat symbolically."""
    require_network(network)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch:
        raise InvalidArgument(f"batch={batch!r} must be a positive int, e.g. 1")
    if batch > LIMITS.symbolic_batch:
        raise InvalidArgument(
            f"batch={batch} exceeds the symbolic limit of {LIMITS.symbolic_batch} samples; "
            "the gradient of a batch is the sum of per-sample gradients, so batch=1 suffices"
        )
    limit, fix = (
        (LIMITS.plain_parameters, "use the layered path (layered_gradients)")
        if plain
        else (LIMITS.symbolic_parameters, "use a smaller network or the numeric engine")
    )
    count = network.parameter_count
    if count > limit:
        path = "plain sympy.diff" if plain else "symbolic"
        raise InvalidArgument(
            f"network {network.spec} has {count} parameters, beyond the {path} limit "
            f"of {limit}; {fix}"
        )


def _distinct_rows(layer: tuple) -> int:
    w, b = layer
    return len({(row, None if b is None else b[i]) for i, row in enumerate(w)})


def estimated_proof_cost(network: Network, point: InitPoint, *, batch: int = 1) -> int:
    """The proof cost model of :mod:`symcheck.limits` for ``point`` of ``network``.

    A point without free symbols (``zero``, a rational ``constant``) costs
    ``batch``: every pre-activation is a number times the data. Otherwise
    hidden layer ``l`` contributes its activation's growth factor
    (:data:`~symcheck.limits.GROWTH`) times its number of distinct neurons
    (distinct incoming rows and biases at the point: 1 when the init ties
    them, ``n_l`` at the generic point).
    """
    if not point.symbols:
        return batch
    factors = [
        GROWTH[activation_kind(network.activation(layer))] * _distinct_rows(point.params[layer - 1])
        for layer in network.hidden_layers
    ]
    return proof_cost(factors=factors, batch=batch)


def check_proof_cost(network: Network, point: InitPoint, *, batch: int = 1) -> None:
    """Raise :class:`InvalidArgument` when the proof cost model exceeds ``LIMITS.proof_cost``."""
    cost = estimated_proof_cost(network, point, batch=batch)
    if cost > LIMITS.proof_cost:
        fixes = ["fewer hidden layers"]
        fixes += ["batch=1"] if batch > 1 else []
        fixes += ["narrower hidden layers or init='tied'"] if point.name == "random" else []
        raise InvalidArgument(
            f"a proof on {network.spec} ({', '.join(sorted(set(network.activations)))}) at the "
            f"'{point.name}' init with batch={batch} has estimated cost {cost}, beyond the "
            f"limit of {LIMITS.proof_cost} (symbolic work grows exponentially with the hidden "
            f"layers); use {' or '.join(fixes)}"
        )


def generic_params(network: Network) -> SymParams:
    """Every parameter its own symbol (the generic point), named by the scheme."""
    out = []
    for layer, (n_out, n_in) in enumerate(network.shapes, start=1):
        w = tuple(tuple(weight_symbol(layer, i, k) for k in range(n_in)) for i in range(n_out))
        b = tuple(bias_symbol(layer, i) for i in range(n_out)) if network.bias else None
        out.append((w, b))
    return tuple(out)


def data_symbols(network: Network, batch: int = 1) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
    """Symbolic inputs ``x{s}_{k}`` and targets ``y{s}_{k}`` for ``batch`` samples."""
    n_in, n_out = network.widths[0], network.widths[-1]
    xs = tuple(tuple(input_symbol(s, k) for k in range(n_in)) for s in range(batch))
    ys = tuple(tuple(target_symbol(s, k) for k in range(n_out)) for s in range(batch))
    return xs, ys


# --------------------------------------------------------------------------- inits


@dataclass(frozen=True)
class InitPoint:
    """A symbolic initial point and the tie classes it claims.

    ``classes[l-1]`` partitions the neurons of hidden layer ``l`` into the
    blocks that the init ties (every neuron of a block has the same incoming
    row, bias and outgoing column). Theorems check the claim; they never
    trust it.
    """

    name: str
    params: SymParams
    classes: tuple[tuple[tuple[int, ...], ...], ...]
    description: str

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """The free symbols of the point, sorted by name."""
        found: set[sp.Symbol] = set()
        for w, b in self.params:
            for row in w:
                for v in row:
                    found |= v.free_symbols
            for v in b or ():
                found |= v.free_symbols
        return tuple(sorted(found, key=lambda s: s.name))


def _all_tied(network: Network) -> tuple[tuple[tuple[int, ...], ...], ...]:
    return tuple((tuple(range(network.widths[layer])),) for layer in network.hidden_layers)


def _singletons(network: Network) -> tuple[tuple[tuple[int, ...], ...], ...]:
    return tuple(
        tuple((i,) for i in range(network.widths[layer])) for layer in network.hidden_layers
    )


def _filled(network: Network, value: sp.Expr) -> SymParams:
    return tuple(
        (
            tuple(tuple(value for _ in range(n_in)) for _ in range(n_out)),
            tuple(value for _ in range(n_out)) if network.bias else None,
        )
        for n_out, n_in in network.shapes
    )


def _zero(network: Network, value: object) -> InitPoint:
    return InitPoint(
        "zero",
        _filled(network, sp.Integer(0)),
        _all_tied(network),
        "every weight and bias is 0",
    )


#: Names that read as numbers, refused as symbol names of ``init='constant'``.
_NOT_SYMBOL_NAMES = frozenset({"nan", "inf", "infinity", "oo", "zoo"})


def constant_value(value: object) -> sp.Expr:
    """The constant of ``init='constant'``: an exact rational or a symbol (``None`` = ``c``).

    Floats and names of non-finite numbers (``nan``, ``inf``, ...) are refused.
    """
    if value is None:
        return sp.Symbol("c")
    if isinstance(value, sp.Symbol):
        return value
    if isinstance(value, float):
        raise InvalidArgument(
            f"value={value!r} is a float; give an exact rational such as '1/10' or a symbol name"
        )
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z]\w*", value.strip()):
        if value.strip().lower() in _NOT_SYMBOL_NAMES:
            raise InvalidArgument(
                f"value={value!r} names a non-finite number, not a constant; give an exact "
                "rational such as '1/10' or a symbol name such as 'c'"
            )
        return sp.Symbol(value.strip())
    try:
        f = Fraction(value.strip()) if isinstance(value, str) else Fraction(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        raise InvalidArgument(
            f"value={value!r} is neither a rational nor a symbol name; use e.g. '1/10' or 'c'"
        ) from None
    return sp.Rational(f.numerator, f.denominator)


def _constant(network: Network, value: object) -> InitPoint:
    c = constant_value(value)
    return InitPoint(
        "constant",
        _filled(network, c),
        _all_tied(network),
        f"every weight and bias equals {c}",
    )


def _tied(network: Network, value: object) -> InitPoint:
    last = network.depth
    layers = []
    for layer, (n_out, n_in) in enumerate(network.shapes, start=1):
        out_tag = "t" if layer < last else None
        in_tag = "t" if layer > 1 else None
        w = tuple(
            tuple(weight_symbol(layer, out_tag or i, in_tag or k) for k in range(n_in))
            for i in range(n_out)
        )
        b = tuple(bias_symbol(layer, out_tag or i) for i in range(n_out)) if network.bias else None
        layers.append((w, b))
    return InitPoint(
        "tied",
        tuple(layers),
        _all_tied(network),
        "every hidden neuron of a layer shares one set of free symbols "
        "(the most general point where all of them are tied)",
    )


def _random(network: Network, value: object) -> InitPoint:
    return InitPoint(
        "random",
        generic_params(network),
        _all_tied(network),
        "every parameter is its own free symbol (the generic point); "
        "the claim checked is that all hidden neurons of a layer stay tied",
    )


#: Init patterns for proofs: name -> builder(network, value).
INITS: dict[str, Callable[[Network, object], InitPoint]] = {
    "zero": _zero,
    "constant": _constant,
    "tied": _tied,
    "random": _random,
}


def init_point(
    network: Network, init: str | InitPoint = "zero", *, value: object = None
) -> InitPoint:
    """Build the symbolic point of an init pattern (``zero``, ``constant``, ``tied``, ``random``).

    ``value`` is the constant of ``constant`` (a rational such as ``"1/10"`` or a
    symbol name; default the free symbol ``c``).
    """
    require_network(network)
    if isinstance(init, InitPoint):
        return init
    if not isinstance(init, str) or init not in INITS:
        raise InvalidArgument(choices_message("init", init, INITS))
    if value is not None and init != "constant":
        raise InvalidArgument(
            f"value={value!r} is given for init={init!r}; only init='constant' takes a value"
        )
    return INITS[init](network, value)


# --------------------------------------------------------------------------- local maps


@cache
def _activation_template(act: Activation) -> tuple[sp.Dummy, sp.Expr, bool]:
    d = sp.Dummy("z")
    deriv = sp.diff(act.sympy(d), d)
    return d, deriv, deriv.has(sp.Derivative)


@cache
def _term_template(loss: Loss) -> tuple[sp.Dummy, sp.Dummy, sp.Expr]:
    z, y = sp.Dummy("z"), sp.Dummy("y")
    return z, y, sp.diff(loss.term(z, y), z)


@cache
def _loss_templates(loss: Loss, n_out: int) -> tuple[tuple, tuple, tuple, bool]:
    zs = tuple(sp.Dummy(f"z{k}") for k in range(n_out))
    ys = tuple(sp.Dummy(f"y{k}") for k in range(n_out))
    if loss.term is not None:  # a sum over outputs: one derivative serves every output
        z, y, d = _term_template(loss)
        return zs, ys, tuple(d.xreplace({z: zk, y: yk}) for zk, yk in zip(zs, ys)), False
    ell = loss.sympy(zs, ys)
    grads = tuple(sp.diff(ell, z) for z in zs)
    return zs, ys, grads, any(g.has(sp.Derivative) for g in grads)


def clear_local_derivatives() -> None:
    """Forget the local derivatives of activations and losses derived so far.

    They are derived with ``sympy.diff`` once per activation (and per loss and
    output width) and kept for the life of the process; ``bench/prove.py``
    clears them to time a proof that must derive them again.
    """
    _activation_template.cache_clear()
    _term_template.cache_clear()
    _loss_templates.cache_clear()


def _instantiate(template: sp.Expr, mapping: dict, abstract: bool) -> sp.Expr:
    if abstract:
        return template.subs(mapping, simultaneous=True)
    return _replace(template, mapping)


def _replace(node: sp.Basic, mapping: dict) -> sp.Basic:
    """``node.xreplace(mapping)``, rebuilding sums and products with the shortcuts.

    Like ``xreplace``, a node is rebuilt (and so evaluated) only when one of
    its arguments changed; sums and products go through :func:`_total` and
    :func:`_product`, which return what ``Add`` and ``Mul`` return without
    asking the assumption system about structural zeros and ones.
    """
    hit = mapping.get(node)
    if hit is not None:
        return hit
    if not node.args:
        return node
    args = [_replace(a, mapping) for a in node.args]
    if all(new is old for new, old in zip(args, node.args)):
        return node
    if node.is_Add:
        return _total(args)
    if node.is_Mul:
        return _product(args)
    return node.func(*args)


@dataclass(frozen=True)
class SymbolicPass:
    """Forward quantities per sample: ``pre[s][l-1]`` is :math:`z^l`, ``post[s][l]`` :math:`h^l`."""

    pre: tuple[tuple[Row, ...], ...]
    post: tuple[tuple[Row, ...], ...]


_ZERO, _ONE = sp.S.Zero, sp.S.One


def _product(factors: Sequence[sp.Expr]) -> sp.Expr:
    """``Mul(*factors)`` with the structural shortcuts ``0 * u = 0`` and ``1 * u = u``.

    SymPy's ``Mul`` returns the same results, but first asks the assumption
    system whether ``u`` might be infinite; every symbol here stands for a
    finite real number, so the shortcut is exact and skips that query. With a
    non-rational number among the factors (``0 * oo``) SymPy decides.
    """
    if any(f is _ZERO for f in factors) and all(f.is_Rational or not f.is_Number for f in factors):
        return _ZERO
    return _without(factors, _ONE, sp.Mul)


def _total(terms: Sequence[sp.Expr]) -> sp.Expr:
    """``Add(*terms)`` without the structural zeros (the same sum, built faster)."""
    return _without(terms, _ZERO, sp.Add)


def _without(items: Sequence[sp.Expr], neutral: sp.Expr, op: type) -> sp.Expr:
    """``op(*items)`` after dropping the ``neutral`` elements (no call for 0 or 1 left)."""
    kept = [v for v in items if v is not neutral]
    if not kept:
        return neutral
    return kept[0] if len(kept) == 1 else op(*kept)


class _Builder:
    """Builds shared sub-expressions once (keyed on operands)."""

    def __init__(self) -> None:
        self._dot: dict = {}
        self._act: dict = {}

    def dot(self, weights: Row, values: Row, bias: sp.Expr | None) -> sp.Expr:
        key = (weights, values, bias)
        hit = self._dot.get(key)
        if hit is None:
            terms = [_product((w, v)) for w, v in zip(weights, values)]
            if bias is not None:
                terms.append(bias)
            hit = self._dot[key] = _total(terms)
        return hit

    def apply(self, act: Activation, z: sp.Expr) -> sp.Expr:
        key = ("f", act.name, z)
        hit = self._act.get(key)
        if hit is None:
            hit = self._act[key] = act.sympy(z)
        return hit

    def derivative(self, act: Activation, z: sp.Expr) -> sp.Expr:
        key = ("d", act.name, z)
        hit = self._act.get(key)
        if hit is None:
            d, template, abstract = _activation_template(act)
            hit = self._act[key] = _instantiate(template, {d: z}, abstract)
        return hit


def _same(expr: sp.Expr) -> sp.Expr:
    return expr


def _forward_one(
    network: Network,
    params: SymParams,
    x: Row,
    builder: _Builder,
    acts: Sequence[Activation],
    canonical: Callable[[sp.Expr], sp.Expr] = _same,
) -> tuple:
    h = tuple(x)
    pre: list[Row] = []
    post: list[Row] = [h]
    for layer, (w, b) in enumerate(params, start=1):
        z = tuple(
            canonical(builder.dot(row, h, None if b is None else b[i])) for i, row in enumerate(w)
        )
        pre.append(z)
        if layer < network.depth:
            act = acts[layer - 1]
            h = tuple(builder.apply(act, zi) for zi in z)
            post.append(h)
    return tuple(pre), tuple(post)


def symbolic_forward(network: Network, params: SymParams, xs: Sequence[Row]) -> SymbolicPass:
    r"""Forward pass :math:`z^l = W^l h^{l-1} + b^l`, :math:`h^l = \varphi_l(z^l)` per sample."""
    builder = _Builder()
    acts = [network.activation(layer) for layer in network.hidden_layers]
    runs = [_forward_one(network, params, tuple(x), builder, acts) for x in xs]
    return SymbolicPass(tuple(r[0] for r in runs), tuple(r[1] for r in runs))


def _row(values: Sequence) -> Row:
    """The values as a tuple of SymPy objects (the tuple itself when it already is one)."""
    if isinstance(values, tuple) and all(isinstance(v, sp.Basic) for v in values):
        return values
    return tuple(v if isinstance(v, sp.Basic) else sp.sympify(v) for v in values)


def _as_rows(network: Network, params: Sequence) -> SymParams:
    require_layers(network, params)
    out = []
    for layer, ((w, b), (n_out, n_in)) in enumerate(zip(params, network.shapes), start=1):
        try:
            rows = tuple(_row(row) for row in w)
        except (TypeError, ValueError, sp.SympifyError):
            raise InvalidArgument(
                f"W{layer} must be {n_out} rows of {n_in} numbers or SymPy expressions"
            ) from None
        if len(rows) != n_out or any(len(r) != n_in for r in rows):
            raise InvalidArgument(f"W{layer} must have shape {(n_out, n_in)} = (n_out, n_in)")
        if network.bias:
            if b is None or len(b) != n_out:
                raise InvalidArgument(f"b{layer} must have {n_out} entries")
            bias: Row | None = _row(b)
        else:
            if b is not None:
                raise InvalidArgument(f"b{layer} is given but network {network.spec} has no bias")
            bias = None
        out.append((rows, bias))
    return tuple(out)


def _prepared(
    network: Network,
    params: Sequence,
    xs: Sequence | None,
    ys: Sequence | None,
    batch: int,
    *,
    plain: bool,
) -> tuple[SymParams, tuple[Row, ...], tuple[Row, ...]]:
    """Check the size, and give ``params``, ``xs`` and ``ys`` as SymPy rows (symbols by default)."""
    check_symbolic_size(network, batch=batch if xs is None else max(1, len(xs)), plain=plain)
    ps = _as_rows(network, params)
    if xs is None or ys is None:
        dx, dy = data_symbols(network, batch)
        xs = dx if xs is None else xs
        ys = dy if ys is None else ys
    rows_x = tuple(_row(x) for x in xs)
    rows_y = tuple(_row(y) for y in ys)
    if len(rows_x) != len(rows_y):
        raise InvalidArgument(
            f"xs has {len(rows_x)} samples but ys has {len(rows_y)}; give one y per x"
        )
    return ps, rows_x, rows_y


def layered_gradients(
    network: Network,
    params: Sequence,
    xs: Sequence[Sequence] | None = None,
    ys: Sequence[Sequence] | None = None,
    *,
    batch: int = 1,
    witness_forms: bool = False,
    canonical: Callable[[sp.Expr], sp.Expr] | None = None,
) -> tuple[SymGrads, tuple[tuple[Row, ...], ...]]:
    r"""Gradients of the batch loss by layered reverse mode.

    ``params`` is a :data:`SymParams` layout (any SymPy expressions); ``xs`` and
    ``ys`` default to the symbols ``x{s}_{k}``, ``y{s}_{k}`` of ``batch``
    samples. ``witness_forms=True`` replaces the abstract ``sigma`` and ``ell``
    by their concrete witness forms (:mod:`symcheck.prove.witness`). ``canonical``
    (e.g. ``sympy.expand``) is applied to every pre-activation :math:`z^l`,
    delta and gradient entry as it is built, so that sums that are equal only
    after rewriting become structurally equal downstream (the lumping proof
    needs this: its weights are sums of block means and deviations). Returns
    ``(grads, deltas)`` where ``grads`` has the layout of ``params`` and
    ``deltas[s][l-1]`` is :math:`\delta^l` of sample ``s``.
    """
    ps, xs, ys = _prepared(network, params, xs, ys, batch, plain=False)
    builder = _Builder()
    acts = [network.activation(layer) for layer in network.hidden_layers]
    loss = network.loss_fn
    if witness_forms:
        from symcheck.prove.witness import concrete_activation, concrete_loss

        acts = [concrete_activation(a) for a in acts]
        loss = concrete_loss(loss)
    zd, yd, ltemps, labstract = _loss_templates(loss, network.widths[-1])
    canon = canonical or _same
    all_post, all_deltas = [], []
    for x, y in zip(xs, ys):
        pre, post = _forward_one(network, ps, x, builder, acts, canon)
        mapping = dict(zip(zd, pre[-1])) | dict(zip(yd, y))
        delta = tuple(canon(_instantiate(t, mapping, labstract)) for t in ltemps)
        deltas = [delta]
        for layer in range(network.depth - 1, 0, -1):
            act = acts[layer - 1]
            w_next = ps[layer][0]
            columns = tuple(zip(*w_next))
            delta = tuple(
                canon(_product((builder.derivative(act, zk), builder.dot(col, delta, None))))
                for col, zk in zip(columns, pre[layer - 1])
            )
            deltas.append(delta)
        deltas.reverse()
        all_post.append(post)
        all_deltas.append(tuple(deltas))
    scale = sp.Rational(1, len(xs)) if network.reduction == "mean" else sp.Integer(1)
    grads = []
    products: dict = {}
    for layer in range(network.depth):
        d_by_neuron = tuple(zip(*(ds[layer] for ds in all_deltas)))
        h_by_source = tuple(zip(*(p[layer] for p in all_post)))
        rows = []
        for di in d_by_neuron:
            row = []
            for hk in h_by_source:
                key = (di, hk)
                g = products.get(key)
                if g is None:
                    g = products[key] = canon(_product((scale, builder.dot(di, hk, None))))
                row.append(g)
            rows.append(tuple(row))
        gb = None
        if network.bias:
            gb = tuple(canon(_product((scale, _total(di)))) for di in d_by_neuron)
        grads.append((tuple(rows), gb))
    return tuple(grads), tuple(all_deltas)


def canonical_derivatives(expr: sp.Expr) -> sp.Expr:
    r"""Rewrite ``Derivative(f(u), u)`` with a non-symbol ``u`` as ``Subs(f'(d), d, u)``.

    ``sympy.diff`` of a nested abstract function writes
    :math:`\sigma'(\sigma(u))` as a derivative *with respect to* the
    expression :math:`\sigma(u)`; the layered path writes it as a ``Subs``.
    Both mean the same; this puts the first into the second's form.
    """

    def fix(node: sp.Basic) -> sp.Basic:
        if isinstance(node, sp.Derivative) and len(node.variables) == 1:
            (u,) = node.variables
            inner = node.expr
            if not isinstance(u, sp.Symbol) and isinstance(inner, sp.core.function.AppliedUndef):
                d = sp.Dummy("xi")
                return sp.Subs(sp.Derivative(inner.xreplace({u: d}), d), d, u)
        return node

    return expr.replace(lambda n: isinstance(n, sp.Derivative), fix)


def plain_gradients(
    network: Network,
    params: Sequence,
    xs: Sequence[Sequence] | None = None,
    ys: Sequence[Sequence] | None = None,
    *,
    batch: int = 1,
    substitute: str = "xreplace",
) -> SymGrads:
    """Reference path: ``sympy.diff`` of the whole batch loss, then substitute ``params``.

    The loss is built in the generic symbols ``W{l}_{i}_{k}``, ``b{l}_{i}``; each
    partial derivative is taken on that whole expression and the point is
    substituted afterwards. It is slow and kept as the reference for the layered path.
    ``substitute`` is ``"xreplace"`` (a structural replacement, the default) or
    ``"subs"`` (SymPy's mathematical substitution, the textbook way and about 5x
    slower; ``bench/prove.py`` times both). Derivatives of the abstract ``sigma``
    and ``ell`` always go through ``subs``, which turns them into ``Subs`` objects.
    """
    if substitute not in ("xreplace", "subs"):
        raise InvalidArgument(f"substitute={substitute!r}; use 'xreplace' or 'subs'")
    ps, xs, ys = _prepared(network, params, xs, ys, batch, plain=True)
    generic = generic_params(network)
    loss = network.loss_fn
    total = []
    for x, y in zip(xs, ys):
        h: Row = x
        for layer, (w, b) in enumerate(generic, start=1):
            z = tuple(
                sp.Add(*[wi * hi for wi, hi in zip(row, h)], *(() if b is None else (b[i],)))
                for i, row in enumerate(w)
            )
            h = (
                tuple(network.activation(layer).sympy(zi) for zi in z)
                if layer < network.depth
                else z
            )
        total.append(loss.sympy(h, y))
    scale = sp.Rational(1, len(xs)) if network.reduction == "mean" else sp.Integer(1)
    big = scale * sp.Add(*total)
    point: dict = {}
    for (gw, gb), (pw, pb) in zip(generic, ps):
        for grow, prow in zip(gw, pw):
            point.update(zip(grow, prow))
        if gb is not None:
            point.update(zip(gb, pb))

    def grad(symbol: sp.Symbol) -> sp.Expr:
        d = sp.diff(big, symbol)
        if d.has(sp.Derivative, sp.Subs):
            return canonical_derivatives(d.subs(point, simultaneous=True))
        return d.xreplace(point) if substitute == "xreplace" else d.subs(point)

    return tuple(
        (
            tuple(tuple(grad(s) for s in row) for row in gw),
            None if gb is None else tuple(grad(s) for s in gb),
        )
        for gw, gb in generic
    )
