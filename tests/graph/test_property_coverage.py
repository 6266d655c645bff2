"""Every op of the op table is reached by the strategy of every graph property.

The graph properties (``properties/test_graph_*.py``) draw from
:func:`~symcheck.graph.strategies.graphs` (every op) or from
:func:`~symcheck.graph.strategies.exact_graphs` (the exact ops). This
test lists, per property, the ops its strategy must produce and fails when
one is missing; ``tests/graph/test_strategies_cover.py`` shows the same for
``graphs()`` op by op. :data:`COVERAGE` is the per-op table of the report.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from symcheck.graph.gradcheck import KINKED, has_kinks
from symcheck.graph.ops import OPS
from symcheck.graph.strategies import EXACT_OPS, exact_graphs, graphs

ALL = frozenset(OPS)
SMOOTH = ALL - KINKED


def _smooth(graph) -> bool:
    return not has_kinks(graph)


#: property -> (its strategy, its filter, the ops it must reach).
COVERAGE = {
    "ties survive, bitwise (exact regime)": (exact_graphs, None, EXACT_OPS),
    "ties survive, every op (margin)": (graphs, None, ALL),
    "random init separates": (graphs, _smooth, SMOOTH),
    "complex step": (graphs, None, ALL),
    "central differences": (graphs, _smooth, SMOOTH),
    "exact symbolic gradients": (exact_graphs, None, EXACT_OPS),
    "breakers break": (graphs, None, ALL),
}


def _ops_of(graph) -> set[str]:
    return {n.op for n in graph.nodes} | ({graph.loss.name} if graph.loss else set())


def _reached(strategy, keep, examples: int = 500) -> set[str]:
    """The ops in ``examples`` draws (derandomised) that pass ``keep``."""
    seen: set[str] = set()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy())
    def collect(graph):
        if keep is None or keep(graph):
            seen.update(_ops_of(graph))

    collect()
    return seen


def test_the_exact_ops_are_ops_of_the_table():
    assert EXACT_OPS <= ALL
    assert ALL - EXACT_OPS == {
        "batch_norm",
        "bce",
        "cross_entropy",
        "layer_norm",
        "rms_norm",
        "rope",
        "sdpa",
        "softmax",
    }


_REACHED: dict[tuple, set[str]] = {}


def _reached_once(strategy, keep) -> set[str]:
    if (strategy, keep) not in _REACHED:
        _REACHED[strategy, keep] = _reached(strategy, keep)
    return _REACHED[strategy, keep]


def test_every_unfiltered_graphs_property_covers_every_op():
    """``graphs()`` reaches every op: ``tests/graph/test_strategies_cover.py``, op by op."""
    assert all(ops == ALL for s, keep, ops in COVERAGE.values() if s is graphs and keep is None)


@pytest.mark.parametrize(
    "name", sorted(n for n, (s, keep, _) in COVERAGE.items() if s is not graphs or keep)
)
def test_the_property_strategy_draws_every_op_it_covers(name):
    strategy, keep, ops = COVERAGE[name]
    assert sorted(ops - _reached_once(strategy, keep)) == []


def test_the_coverage_check_reports_a_missing_op():
    """Sibling: a filter that excludes every conv graph leaves conv1d and conv2d missing."""
    no_conv = lambda g: not {"conv1d", "conv2d"} & _ops_of(g)  # noqa: E731
    assert {"conv1d", "conv2d"} <= ALL - _reached(graphs, no_conv, examples=40)
