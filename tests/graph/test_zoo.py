"""The zoo, chain specs, graph files and resolve_model: models, options and refusals."""

from __future__ import annotations

import json

import pytest

from symcheck.errors import InvalidArgument
from symcheck.graph import graphfile
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.zoo import ZOO, chain_graph, resolve_model


def _kinds(spec):
    return {(s.kind, s.group) for s in infer_symmetries(resolve_model(spec)).spaces}


def test_a_chain_spec_is_an_mlp_with_one_neuron_space_per_hidden_layer():
    graph = resolve_model("3-4-5-2")
    spaces = infer_symmetries(graph).movable
    assert [(s.name, s.size) for s in spaces] == [("fc1", 4), ("fc2", 5)]
    assert graph.shape("fc3") == (2, 2)


def test_the_transformer_lists_heads_head_dims_stream_and_ffn_neurons():
    spaces = {s.name: s for s in infer_symmetries(resolve_model("transformer")).spaces}
    for layer in ("b0", "b1"):
        assert spaces[f"{layer}.attn.head"].group == "symmetric"
        assert spaces[f"{layer}.attn.qk_dim"].group == "restricted"
        assert spaces[f"{layer}.attn.vo_dim"].group == "restricted"
        assert spaces[f"{layer}.gate"].kind == "neuron"
    assert spaces["stream"].kind == "stream" and spaces["stream"].size == 8


def test_rope_fixes_the_query_key_dims_while_heads_still_permute():
    spaces = {s.name: s for s in infer_symmetries(resolve_model("transformer:rope=1")).spaces}
    assert spaces["b0.attn.qk_dim"].group == "fixed"
    assert spaces["b0.attn.head"].group == "symmetric"
    assert spaces["b0.attn.vo_dim"].group == "restricted"


def test_the_cnn_lists_channels_and_the_moe_lists_experts():
    assert ("channel", "symmetric") in _kinds("cnn:channels=3")
    assert ("expert", "symmetric") in _kinds("moe:experts=4")
    assert ("stream", "symmetric") in _kinds("resmlp")


BAD_SPECS = {
    "unknown model": (
        "resnet:depth=3",
        "one of the zoo models ['cnn', 'mlp', 'moe', 'resmlp', 'transformer']",
    ),
    "unknown key": ("cnn:chanels=4", "the keys (with defaults) are channels=4,size=6"),
    "missing value": ("cnn:channels", "'channels' is not a valid option"),
    "not an int": ("moe:experts=three", "experts='three' must be an integer from 1 to 4096"),
    "too large": ("mlp:hidden=100000", "must be an integer from 1 to 4096"),
    "zero": ("mlp:layers=0", "from 1 to"),
    "heads do not divide": ("transformer:heads=3", "d_model=8 must be a multiple of heads=3"),
    "kv heads do not divide": ("transformer:heads=4,kv_heads=3", "multiple of kv_heads=3"),
    "odd rope dim": ("transformer:d_model=6,heads=2,rope=1", "rope needs an even head dim"),
    "odd cnn size": ("cnn:size=5", "size=5 must be even"),
    "bad activation": ("mlp:activation=swish", "activation='swish' is not supported"),
    "empty": ("  ", "is empty"),
    "zero width": ("3-0-2", "every width must be 1 to 4096"),
    "missing file": ("nothere.json", "does not exist"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_a_bad_model_spec_is_refused_naming_the_valid_choices(case):
    spec, message = BAD_SPECS[case]
    with pytest.raises(InvalidArgument) as info:
        resolve_model(spec)
    assert message in str(info.value)


def test_every_zoo_key_has_a_default_that_builds():
    for model in ZOO.values():
        assert model.build(model.defaults).nodes


def test_a_graph_file_round_trips_through_resolve_model(tmp_path):
    graph = resolve_model("transformer:layers=1,kv_heads=1")
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graph.to_json()))
    assert resolve_model(str(path)) == graph


def _write(tmp_path, data):
    path = tmp_path / "g.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _small():
    return resolve_model("2-2-1").to_json()


BAD_FILES = {
    "not json": (lambda: "{", "is not valid JSON"),
    "not an object": (lambda: [1], "the top level must be a JSON object"),
    "unknown field": (lambda: {**_small(), "extra": 1}, "unknown top-level field 'extra'"),
    "missing nodes": (
        lambda: {k: v for k, v in _small().items() if k != "nodes"},
        "'nodes' is missing",
    ),
    "node without op": (
        lambda: {**_small(), "nodes": [{"inputs": ["x"], "output": "y"}]},
        "nodes[0] needs the field 'op'",
    ),
    "names not a list of strings": (
        lambda: {**_small(), "nodes": [{"op": "linear", "inputs": "x", "output": "y"}]},
        "nodes[0] field 'inputs'='x' has the wrong type",
    ),
    "too deep": (lambda: "[" * 50 + "]" * 50, "nests deeper than 8 levels"),
    "too many parameter elements": (
        lambda: {**_small(), "parameters": [{"name": "w", "shape": [100000, 100000]}]},
        "parameter elements, more than the limit",
    ),
    "too many nodes": (
        lambda: {**_small(), "nodes": [{}] * (graphfile.MAX_NODES + 1)},
        "nodes, more than the limit",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_graph_file_is_refused_before_the_work(case, tmp_path):
    data, message = BAD_FILES[case]
    with pytest.raises(InvalidArgument) as info:
        resolve_model(_write(tmp_path, data()))
    assert message in str(info.value)


def test_an_oversized_graph_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(graphfile, "MAX_FILE_BYTES", 10)
    with pytest.raises(InvalidArgument, match="more than the limit 10"):
        resolve_model(_write(tmp_path, _small()))


def test_a_chain_graph_takes_network_options():
    graph = chain_graph(
        [2, 3, 3, 1], activation=["relu", "tanh"], bias=False, loss="bce", reduction="sum"
    )
    assert [n.attr_dict.get("name") for n in graph.nodes if n.op == "activation"] == [
        "relu",
        "tanh",
    ]
    assert graph.parameter_names == ("fc1.weight", "fc2.weight", "fc3.weight")
    assert (graph.loss.name, graph.loss.reduction) == ("bce", "sum")
    with pytest.raises(InvalidArgument, match="gives 1 names for 2 hidden layers"):
        chain_graph([2, 3, 3, 1], activation=["relu"])
