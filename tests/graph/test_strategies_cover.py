"""The graph strategies reach every op of the op table (so the property covers every rule)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, find, settings

from symcheck.graph.ops import OPS
from symcheck.graph.strategies import graphs


def _ops_of(graph) -> set[str]:
    return {n.op for n in graph.nodes} | ({graph.loss.name} if graph.loss else set())


@pytest.mark.parametrize("op", sorted(OPS))
def test_the_graph_strategy_draws_every_op(op):
    found = find(
        graphs(),
        lambda g: op in _ops_of(g),
        settings=settings(
            max_examples=2000,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert op in _ops_of(found)
