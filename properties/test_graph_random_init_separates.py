"""Random init separates tied units: distinct gradients for every pair a tie could join.

At a ``tied`` init every pair of units that a unit space may swap is tied
(:mod:`symcheck.graph.points`), so they get identical gradients (T1). At a
random point (standard normal float64 parameters and data,
:mod:`symcheck.graph.sample`) the same pairs must get different gradients:
swapping the two units changes the gradient (:func:`~symcheck.graph.confirm.swap_gap`)
by more than :data:`MARGIN` times the pair's largest gradient entry
(regime: general floating point; rounding is ~1e-16 of it, a real
difference is of the order of the gradient, docs/theory.md T4).

Non-degeneracy conditions, each an architecture or data set on which the
gradient cannot separate the pair, not a counterexample:

* no kinked op or activation (:data:`~symcheck.graph.gradcheck.KINKED`):
  a ReLU dead on every position but one can leave only the position where
  two GQA query heads see a single key (found by Hypothesis), as the chain
  suite's property 2 restricts itself to analytic activations;
* the gradient is not identically 0 (a cross-entropy over one class);
* every softmax axis, and every attention's key axis, has at least 2
  entries (a softmax over one entry is the constant 1: what feeds it, and
  query-key dims, get no gradient, and GQA query heads of one group see the
  same values);
* the tokens of a sequence are distinct (two equal keys make the attention
  weights blind to the query);
* the weights are drawn at a scale made for the width (fan-scaled schemes
  and the classic presets), not with scale 1: a standard normal query-key product
  in a 16-wide transformer saturates the attention softmax, so two query
  heads of one GQA group both attend to one key with weight 1 - 1e-14 and
  their gradients agree to 1e-13 (found by Hypothesis);
* a pair is compared only when one of its units has a gradient entry of at
  least :data:`FLOOR` of the largest (a ReLU unit dead on every sample
  holds zeros, as its partner may).
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from symcheck.graph.confirm import block_pairs, swap_gap, unit_magnitude
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.gradcheck import has_kinks
from symcheck.graph.ops import get_op
from symcheck.graph.points import init_point
from symcheck.graph.sample import catalogue_parameters, random_inputs, random_target
from symcheck.graph.strategies import graphs
from symcheck.graph.symmetry import infer_symmetries
from symcheck.model.init import canonical_initializers

MARGIN = 1e-9
FLOOR = 1e-6
#: The schemes of the catalogue with a density (docs/theory.md, T4) whose scale
#: does not grow with the width; ``normal``, ``uniform`` and ``truncated_normal``
#: have scale 1 by default and saturate attention (below).
UNSCALED = ("normal", "uniform", "truncated_normal")
BREAKERS = tuple(
    r.name for r in canonical_initializers() if r.has_density and r.name not in UNSCALED
)

_FEW = max(10, settings.default.max_examples // 4)


def _softmax_axes_have_two_entries(graph) -> bool:
    for node in graph.nodes:
        if node.op == "softmax":
            shape = graph.shape(node.inputs[0])
            if shape[int(node.attr_dict["axis"]) % len(shape)] < 2:
                return False
        if node.op == "sdpa" and graph.shape(node.inputs[1])[2] < 2:
            return False
    return (
        graph.loss is None
        or graph.loss.name != "cross_entropy"
        or (graph.shape(graph.output)[-1] >= 2)
    )


def _distinct_tokens(graph, inputs, rng) -> dict:
    """Token ids drawn without repetition along each sequence (below the vocabulary)."""
    result = dict(inputs)
    for node in graph.nodes:
        for position in get_op(node.op).int_inputs:
            name = node.inputs[position]
            vocab = graph.shape(node.params[0])[0]
            shape = graph.shape(name)
            assume(vocab >= shape[-1])
            rows = [rng.permutation(vocab)[: shape[-1]] for _ in range(int(np.prod(shape[:-1])))]
            result[name] = np.asarray(rows, dtype=np.int64).reshape(shape)
    return result


def separation_failures(graph, grads) -> list[tuple[str, int, int, float]]:
    """Pairs (space, u, v, gap) a space may swap whose gradients are not separated."""
    scale = max(float(np.max(np.abs(g), initial=0.0)) for g in grads.values())
    failures = []
    for space in infer_symmetries(graph).movable:
        for u, v in block_pairs(space):
            seen = max(unit_magnitude(grads, space, u), unit_magnitude(grads, space, v))
            if seen < FLOOR * scale:
                continue
            gap = swap_gap(graph, grads, space, u, v)
            if gap <= MARGIN * seen:
                failures.append((space.name, u, v, gap))
    return failures


def _random_case(graph, seed, scheme="lecun_normal"):
    rng = np.random.default_rng(seed)
    params = catalogue_parameters(graph, scheme, rng)
    inputs = _distinct_tokens(graph, random_inputs(graph, rng), rng)
    return params, inputs, random_target(graph, rng)


@settings(max_examples=_FEW)
@given(graphs(), st.integers(0, 2**32 - 1), st.sampled_from(BREAKERS))
def test_random_init_gives_every_swappable_pair_distinct_gradients(graph, seed, scheme):
    assume(not has_kinks(graph) and _softmax_axes_have_two_entries(graph))
    params, inputs, target = _random_case(graph, seed, scheme)
    _, grads = loss_and_gradients(graph, params, inputs, target)
    assume(any(np.any(g != 0) for g in grads.values()))
    failures = separation_failures(graph, grads)
    assert failures == [], failures


@settings(max_examples=_FEW)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_the_separation_check_finds_every_pair_tied_at_a_tied_init(graph, seed):
    """Sibling: at a ``tied`` point (random values per orbit) no pair is separated."""
    assume(_softmax_axes_have_two_entries(graph))
    rng = np.random.default_rng(seed)
    point = init_point(graph, "tied")
    table = np.array([0.5 + abs(rng.standard_normal()) for _ in point.values])
    params = {n: table[c] for n, c in point.codes.items()}
    _, inputs, target = _random_case(graph, seed)
    _, grads = loss_and_gradients(graph, params, inputs, target)
    pairs = [(s.name, p) for s in infer_symmetries(graph).movable for p in block_pairs(s)]
    assume(any(np.any(g != 0) for g in grads.values()))
    assert len(separation_failures(graph, grads)) + _invisible(graph, grads) == len(pairs)


def _invisible(graph, grads) -> int:
    scale = max(float(np.max(np.abs(g), initial=0.0)) for g in grads.values())
    return sum(
        max(unit_magnitude(grads, s, u), unit_magnitude(grads, s, v)) < FLOOR * scale
        for s in infer_symmetries(graph).movable
        for u, v in block_pairs(s)
    )
