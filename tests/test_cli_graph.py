"""``symcheck symmetries MODEL``: text and JSON output, bad input one line with exit 2."""

from __future__ import annotations

import json

import pytest

from symcheck.cli import main
from symcheck.graph.symmetry import GROUPS, KINDS


def _run(capsys, *argv):
    code = main(["symmetries", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_text_lists_heads_head_dims_stream_and_neurons_of_a_transformer(capsys):
    code, out, _ = _run(capsys, "transformer:d_model=8,heads=2,d_ff=16,layers=1,rope=1")
    assert code == 0
    lines = {line.split(":")[0].strip(): line for line in out.splitlines()[1:]}
    assert "2 heads of 4 dims, symmetric; b0.q.weight axis 0 (blocks of 4)" in lines["b0.attn.head"]
    assert "4 query-key dims, fixed" in lines["b0.attn.qk_dim"]
    assert "8 value-output dims, restricted" in lines["b0.attn.vo_dim"]
    assert "8 residual-stream dims, symmetric" in lines["stream"]
    assert "16 neurons, symmetric" in lines["b0.gate"]


def test_text_lists_the_channels_of_a_cnn(capsys):
    code, out, _ = _run(capsys, "cnn:channels=3")
    assert code == 0
    assert (
        "conv2: 3 channels, symmetric; conv2.weight axis 0, conv2.bias axis 0, "
        "fc.weight axis 1 (blocks of 9)" in out
    )


def _check_format(data, parameter_shapes):
    assert set(data) == {"spaces", "parameters"}
    names = {s["name"] for s in data["spaces"]}
    for space in data["spaces"]:
        assert space["kind"] in KINDS and space["group"] in GROUPS
        assert isinstance(space["size"], int) and space["size"] >= 2
        for axis in space["axes"]:
            assert set(axis) - {"outer_axis", "between"} == {"parameter", "axis", "block"}
            if "between" in axis:  # only a restricted space has blocks in between
                assert space["group"] == "restricted" and axis["between"] >= 2
            if "outer_axis" in axis:  # only a restricted space has an outer axis
                assert space["group"] == "restricted"
                assert axis["outer_axis"] != axis["axis"]
                assert 0 <= axis["outer_axis"] < len(parameter_shapes[axis["parameter"]])
        if space["group"] == "restricted":
            assert sorted(i for b in space["blocks"] for i in b) == list(range(space["size"]))
            assert space["independent_per"] in names
    assert set(data["parameters"]) == set(parameter_shapes)
    for name, entries in data["parameters"].items():
        assert len(entries) == len(parameter_shapes[name])
        for entry in entries:
            factors = entry if isinstance(entry, list) else [entry]
            assert all(e is None or e in names for e in factors)


@pytest.mark.parametrize(
    "spec", ["2-3-1", "cnn", "resmlp", "moe", "transformer:heads=4,kv_heads=2"]
)
def test_json_follows_the_documented_format(capsys, spec):
    from symcheck.graph.zoo import resolve_model

    code, out, _ = _run(capsys, spec, "--format", "json")
    assert code == 0
    graph = resolve_model(spec)
    _check_format(json.loads(out), {p.name: p.shape for p in graph.parameters})


def test_the_format_checker_rejects_a_broken_document(capsys):
    _, out, _ = _run(capsys, "2-3-1", "--format", "json")
    data = json.loads(out)
    data["parameters"]["fc1.weight"] = ["no-such-space", None]
    with pytest.raises(AssertionError):
        _check_format(
            data, {"fc1.weight": (3, 2), "fc1.bias": (3,), "fc2.weight": (1, 3), "fc2.bias": (1,)}
        )


@pytest.mark.parametrize(
    "spec", ["cnn:chanels=4", "transformer:heads=3", "resnet", "3-0-1", "missing.json"]
)
def test_a_bad_model_is_one_line_on_stderr_with_exit_2(capsys, spec):
    code, out, err = _run(capsys, spec)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
