"""Breakers break: an init the registry calls symmetry-breaking leaves no tie on a graph.

The catalogue's schemes with a density (:data:`symcheck.model.init.INITIALIZERS`,
``has_density``: ties have probability 0, docs/theory.md T4) draw every
weight of a graph (:func:`~symcheck.graph.sample.catalogue_parameters`;
biases and norm gains keep PyTorch's constants, so the asymmetry comes from
the scheme alone), and so does the graph's own ``random`` init
(:data:`symcheck.graph.points.INITS`). In every unit space the certified tie
classes (:func:`symcheck.graph.ties.tie_classes`) must then be empty. The
siblings show that the same check finds ties for the symmetric inits and
for a planted scheme that draws one value per tensor.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symcheck.graph.points import init_point
from symcheck.graph.sample import catalogue_parameters
from symcheck.graph.strategies import graphs
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.ties import tie_classes
from symcheck.model.init import Initializer, canonical_initializers

BREAKERS = tuple(r.name for r in canonical_initializers() if r.has_density)

_FEW = max(10, settings.default.max_examples // 4)


def tied_spaces(graph, params) -> list[str]:
    """The unit spaces with at least one certified tie class at ``params``."""
    return [s.space for s in tie_classes(graph, init=params).spaces if s.classes]


def _has_pairs(graph) -> bool:
    return any(s.size > 1 for s in infer_symmetries(graph).movable)


@settings(max_examples=_FEW)
@given(graphs(), st.sampled_from(BREAKERS), st.integers(0, 2**32 - 1))
def test_every_breaking_initializer_leaves_no_tie_class(graph, scheme, seed):
    params = catalogue_parameters(graph, scheme, np.random.default_rng(seed))
    assert tied_spaces(graph, params) == []


@settings(max_examples=_FEW)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_the_graph_random_init_leaves_no_tie_class(graph, seed):
    assert [s.space for s in tie_classes(graph, init="random", seed=seed).spaces if s.classes] == []


# ---- siblings: the same check finds the ties of symmetric starts


@settings(max_examples=_FEW)
@given(graphs(), st.sampled_from(["zero", "constant", "tied"]))
def test_the_tie_check_finds_the_ties_of_every_symmetric_init(graph, init):
    point = init_point(graph, init)
    found = [s for s in tie_classes(graph, init=point).spaces if s.classes]
    assert {s.space for s in found} == {
        s.name for s in infer_symmetries(graph).movable if s.size > 1
    }


def _one_value_per_tensor(shape, *, rng):
    """A planted broken breaker: a random value, the same for every entry."""
    return np.full(shape, rng.standard_normal())


@settings(max_examples=_FEW)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_the_tie_check_catches_a_scheme_without_a_joint_density(graph, seed):
    broken = Initializer("one_value", _one_value_per_tensor, False, False, "planted fault")
    params = catalogue_parameters(graph, broken, np.random.default_rng(seed))
    assert (tied_spaces(graph, params) != []) == _has_pairs(graph)
