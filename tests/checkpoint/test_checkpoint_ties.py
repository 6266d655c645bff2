"""Planted ties, dead units and near duplicates are found per family; random ones are not."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck.checkpoint import audit_checkpoint, families

FAMILIES = ["bert", "gpt2", "llama", "mixtral", "resnet", "vit"]


def test_every_family_file_has_a_synthetic_checkpoint(configs):
    assert sorted(configs) == FAMILIES == sorted(f.name for f in families())


def space(report, ident):
    return next(s for s in report.spaces if s.id == ident)


@pytest.mark.parametrize("family", FAMILIES)
def test_random_checkpoint_of_every_family_has_no_tie_and_no_dead_unit(checkpoint, family):
    report = audit_checkpoint(checkpoint(family), jobs=1)
    assert report.family == family and report.claims
    assert len(report.spaces) >= 4
    assert all(s.verdict == "full" for s in report.spaces), [
        (s.id, s.verdict) for s in report.spaces if s.verdict != "full"
    ]
    assert report.exit_code == 0 and not report.unrecognised and not report.unanalysed


def test_collapsed_cnn_channels_are_certified_and_permanent(checkpoint, tensors):
    t = tensors("resnet")
    p = "resnet.encoder.stages.1.layers.0.layer."
    for name in (
        "0.convolution.weight",
        "0.normalization.weight",
        "0.normalization.bias",
        "0.normalization.running_mean",
        "0.normalization.running_var",
    ):
        t[p + name][[2, 5]] = t[p + name][1]
    t[p + "1.convolution.weight"][:, [2, 5]] = t[p + "1.convolution.weight"][:, [1]]
    report = audit_checkpoint(checkpoint("resnet", t), jobs=1)
    s = space(report, "stage1.block0.conv0")
    assert s.classes == ((1, 2, 5),) and s.certified and s.permanent
    assert s.verdict == "collapsed" and s.effective_width == s.width - 2
    assert report.exit_code == 1
    others = [x for x in report.spaces if x.id != s.id]
    assert all(x.verdict == "full" for x in others)


def _tie_heads(t, *, layer, hd=4):
    """Heads 0 and 1 of a BERT layer: Q/K/V row blocks (+ biases) and O column blocks."""
    p = f"encoder.layer.{layer}.attention."
    for q in ("query", "key", "value"):
        for part in ("weight", "bias"):
            a = t[p + f"self.{q}.{part}"]
            a[hd : 2 * hd] = a[:hd]
    o = t[p + "output.dense.weight"]
    o[:, hd : 2 * hd] = o[:, :hd]
    return t


def test_tied_heads_in_bert_q_k_v_row_blocks_and_o_column_blocks(checkpoint, tensors):
    t = _tie_heads(tensors("bert"), layer=1)
    report = audit_checkpoint(checkpoint("bert", t), jobs=1)
    s = space(report, "layer1.heads")
    assert s.classes == ((0, 1),) and s.permanent and s.nearest == (0, 1) and s.distance == 0
    assert space(report, "layer0.heads").verdict == "full"


@pytest.mark.parametrize("broken", ["query.weight", "key.bias", "value.weight", "output"])
def test_a_head_tie_broken_in_one_tensor_only_is_not_reported(checkpoint, broken, tensors):
    t = _tie_heads(tensors("bert"), layer=0)
    p, hd, o = "encoder.layer.0.attention.", 4, t["encoder.layer.0.attention.output.dense.weight"]
    if broken == "output":
        o[3, hd] += 1.0
    else:
        t[p + f"self.{broken}"][hd] += 1.0
    s = space(audit_checkpoint(checkpoint("bert", t), jobs=1), "layer0.heads")
    assert s.classes == () and not s.permanent and s.verdict != "collapsed"


def _tie_ffn(t, prefix, a, b, *, gate="mlp.gate_proj", up="mlp.up_proj", down="mlp.down_proj"):
    t[f"{prefix}{gate}.weight"][b] = t[f"{prefix}{gate}.weight"][a]
    t[f"{prefix}{up}.weight"][b] = t[f"{prefix}{up}.weight"][a]
    t[f"{prefix}{down}.weight"][:, b] = t[f"{prefix}{down}.weight"][:, a]


def test_tied_swiglu_neurons_gate_up_rows_with_down_columns(checkpoint, tensors):
    t = tensors("llama")
    _tie_ffn(t, "model.layers.1.", 3, 5)
    s = space(audit_checkpoint(checkpoint("llama", t), jobs=1), "layer1.ffn")
    assert s.classes == ((3, 5),) and s.certified and s.permanent


@pytest.mark.parametrize("broken", ["gate_proj", "up_proj", "down_proj"])
def test_a_neuron_tie_broken_in_one_of_its_tensors_is_not_reported(checkpoint, broken, tensors):
    t = tensors("llama")
    _tie_ffn(t, "model.layers.1.", 3, 5)
    w = t[f"model.layers.1.mlp.{broken}.weight"]
    if broken == "down_proj":
        w[0, 5] = np.nextafter(w[0, 5], np.float32(np.inf))  # one ulp in one entry
    else:
        w[5, 0] = np.nextafter(w[5, 0], np.float32(np.inf))
    s = space(audit_checkpoint(checkpoint("llama", t), jobs=1), "layer1.ffn")
    assert s.classes == () and s.verdict != "collapsed"
    assert s.nearest == (3, 5) and 0 < s.distance < 1e-6 and s.exact
    assert s.verdict == "near-duplicate"


def test_query_heads_of_one_gqa_group_tie_with_their_o_columns(checkpoint, tensors):
    t = tensors("llama")
    q, o = t["model.layers.0.self_attn.q_proj.weight"], t["model.layers.0.self_attn.o_proj.weight"]
    # head_dim 2, group 2: KV group 1 holds query heads 2 and 3 (rows 4:6 and 6:8).
    q[6:8] = q[4:6]
    o[:, 6:8] = o[:, 4:6]
    report = audit_checkpoint(checkpoint("llama", t), jobs=1)
    s = space(report, "layer0.group1.heads")
    assert s.classes == ((0, 1),) and s.permanent
    assert space(report, "layer0.group0.heads").verdict == "full"
    assert space(report, "layer0.kv_groups").verdict == "full"


def test_gpt2_fused_c_attn_slices_tie_two_heads(checkpoint, tensors):
    t = tensors("gpt2")
    w, b = t["h.0.attn.c_attn.weight"], t["h.0.attn.c_attn.bias"]
    for start in (0, 8, 16):  # q | k | v, head_dim 4
        w[:, start + 4 : start + 8] = w[:, start : start + 4]
        b[start + 4 : start + 8] = b[start : start + 4]
    p = t["h.0.attn.c_proj.weight"]
    p[4:8] = p[0:4]
    report = audit_checkpoint(checkpoint("gpt2", t), jobs=1)
    assert space(report, "layer0.heads").classes == ((0, 1),)
    assert space(report, "layer0.heads").permanent
    w[0, 16 + 5] += 1.0  # break the value slice only
    report = audit_checkpoint(checkpoint("gpt2", t), jobs=1)
    assert space(report, "layer0.heads").classes == ()


def test_identical_moe_experts_and_an_upcycled_near_copy(checkpoint, tensors):
    t = tensors("mixtral")
    m = "model.layers.0.block_sparse_moe."
    rng = np.random.default_rng(5)
    for w in ("w1", "w2", "w3"):
        t[m + f"experts.2.{w}.weight"] = t[m + f"experts.1.{w}.weight"].copy()
        base = t[m + f"experts.0.{w}.weight"]
        noise = rng.standard_normal(base.shape).astype(np.float32) * 1e-4
        t[m + f"experts.3.{w}.weight"] = base + noise
    g = t[m + "gate.weight"]
    g[2] = g[1]
    g[3] = g[0] + rng.standard_normal(8).astype(np.float32) * 1e-4
    s = space(audit_checkpoint(checkpoint("mixtral", t), jobs=1), "layer0.experts")
    assert s.classes == ((1, 2),) and s.permanent
    assert [(i, j) for i, j, _ in s.near] == [(0, 3)]
    assert 1e-5 < s.near[0][2] < 1e-3


def test_dead_ffn_neurons_are_reported(checkpoint, tensors):
    t = tensors("llama")
    t["model.layers.0.mlp.gate_proj.weight"][4] = 0.0
    t["model.layers.0.mlp.up_proj.weight"][4] = -0.0
    t["model.layers.0.mlp.down_proj.weight"][:, 9] = 0.0
    report = audit_checkpoint(checkpoint("llama", t), jobs=1)
    s = space(report, "layer0.ffn")
    assert s.dead == (4, 9) and s.verdict == "dead" and report.exit_code == 1
    t2 = tensors("llama")
    t2["model.layers.0.mlp.gate_proj.weight"][4] = 0.0  # the up row still carries a signal
    assert space(audit_checkpoint(checkpoint("llama", t2), jobs=1), "layer0.ffn").dead == ()


def test_near_duplicate_among_more_than_64_units_is_found_through_the_sketch(
    checkpoint, tensors, configs
):
    config = dict(configs["llama"], intermediate_size=200)
    t = tensors("llama", config=config)
    rng = np.random.default_rng(1)
    for name, axis in (("gate_proj", 0), ("up_proj", 0), ("down_proj", 1)):
        w = np.moveaxis(t[f"model.layers.0.mlp.{name}.weight"], axis, 0)
        w[150] = w[7] * (1 + 3e-3 * rng.standard_normal(w[7].shape).astype(np.float32))
    s = space(audit_checkpoint(checkpoint("llama", t, config), jobs=1), "layer0.ffn")
    assert s.width == 200 and not s.exact and s.near_complete
    assert [(i, j) for i, j, _ in s.near] == [(7, 150)] and s.nearest == (7, 150)


def test_tensor_outside_the_family_that_could_touch_a_space_removes_its_claim(checkpoint, tensors):
    t = tensors("llama")
    _tie_ffn(t, "model.layers.1.", 3, 5)
    t["adapter.weight"] = np.ones((12, 3), dtype=np.float32)  # 12 = FFN width
    report = audit_checkpoint(checkpoint("llama", t), jobs=1)
    s = space(report, "layer1.ffn")
    assert s.classes == ((3, 5),) and s.certified and not s.permanent and s.verdict == "tied"
    assert "adapter.weight" in s.reason and report.unrecognised == ("adapter.weight",)


def test_config_that_does_not_fit_the_tensors_gives_no_claim(checkpoint, tensors, configs):
    t = tensors("llama")
    _tie_ffn(t, "model.layers.1.", 3, 5)
    wrong = dict(configs["llama"], intermediate_size=6)
    report = audit_checkpoint(checkpoint("llama", t, wrong), jobs=1)
    assert not any(s.permanent for s in report.spaces)
    assert ("layer1.ffn",) == tuple(i for i, _ in report.unanalysed if i == "layer1.ffn")


def test_without_config_ties_are_observations_only(checkpoint, tensors):
    t = tensors("llama")
    _tie_ffn(t, "model.layers.1.", 3, 5)
    report = audit_checkpoint(checkpoint("llama", t, with_config=False), jobs=1)
    assert report.family is None and not report.claims
    rows = space(report, "model.layers.1.mlp.gate_proj.weight:rows")
    assert rows.classes == ((3, 5),) and not rows.permanent and rows.verdict == "tied"
    assert "unknown architecture" in rows.reason
    assert not any(s.permanent for s in report.spaces)


def test_unknown_model_type_is_observations_only(checkpoint, tensors, configs):
    t = tensors("llama")
    _tie_ffn(t, "model.layers.1.", 3, 5)
    config = dict(configs["llama"], model_type="mystery")
    report = audit_checkpoint(checkpoint("llama", t, config), jobs=1)
    assert not report.claims and "mystery" in report.note
    assert not any(s.permanent for s in report.spaces)


def test_nan_in_a_tied_space_gives_no_permanence_claim(checkpoint, tensors):
    t = tensors("llama")
    _tie_ffn(t, "model.layers.1.", 3, 5)
    t["model.layers.1.mlp.gate_proj.weight"][[3, 5], 0] = np.nan
    s = space(audit_checkpoint(checkpoint("llama", t), jobs=1), "layer1.ffn")
    assert s.classes == ((3, 5),) and s.nonfinite and not s.permanent
