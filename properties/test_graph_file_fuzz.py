"""A graph file is untrusted input: any mutation gives a graph or one InvalidArgument.

Starting from valid graph files (zoo models), Hypothesis replaces one value
anywhere in the JSON tree by another JSON value; loading must either succeed
(a valid graph, which then also has inferable symmetries) or raise
:class:`~symcheck.errors.InvalidArgument`, never another exception.
"""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from symcheck.errors import InvalidArgument
from symcheck.graph.graphfile import graph_from_json
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.zoo import resolve_model

SEEDS = {
    spec: resolve_model(spec).to_json()
    for spec in ("2-3-1", "cnn:channels=2,size=2", "transformer:layers=1", "moe", "resmlp:blocks=1")
}

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 20)
    | st.sampled_from(["x", "y", "linear", "fc1.weight", "1/0", "-1", "sdpa", "target"])
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _replace(tree, path, value):
    if not path:
        return value
    tree = copy.deepcopy(tree)
    target = tree
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return tree


@given(st.data())
def test_a_mutated_graph_file_loads_or_is_refused_with_invalid_argument(data):
    seed = SEEDS[data.draw(st.sampled_from(sorted(SEEDS)), label="model")]
    paths = list(_paths(seed))
    attrs = [p for p in paths if "attrs" in p[:-1]]  # attribute values, half of the draws
    path = data.draw(st.sampled_from(paths) | st.sampled_from(attrs), label="path")
    mutated = _replace(seed, path, data.draw(JSON_VALUES, label="value"))
    try:
        graph = graph_from_json(mutated)
    except InvalidArgument:
        return
    infer_symmetries(graph)


def test_the_fuzz_target_accepts_the_unmutated_seeds():
    for data in SEEDS.values():
        assert graph_from_json(data).to_json() == data
