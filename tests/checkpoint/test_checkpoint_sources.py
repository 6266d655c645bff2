"""Sources: sharded indexes, training checkpoints, fp16/bf16, hostile files; output forms."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.audit.weights import load_weights
from symcheck.checkpoint import SCHEMA, audit_checkpoint, render
from symcheck.checkpoint.store import open_store
from symcheck.errors import InvalidArgument, UnsafeFile


def _tie_ffn(t, a=3, b=5, layer=1):
    p = f"model.layers.{layer}.mlp."
    t[p + "gate_proj.weight"][b] = t[p + "gate_proj.weight"][a]
    t[p + "up_proj.weight"][b] = t[p + "up_proj.weight"][a]
    t[p + "down_proj.weight"][:, b] = t[p + "down_proj.weight"][:, a]
    return t


def _spaces(report):
    return [s.to_dict() for s in report.spaces]


def test_sharded_index_directory_and_file_list_agree_with_one_file(
    tmp_path, checkpoint, tensors, configs, sharded
):
    t = _tie_ffn(tensors("llama"))
    single = audit_checkpoint(checkpoint("llama", t), jobs=1)
    index = sharded(tmp_path / "sharded", t, configs["llama"])
    by_index = audit_checkpoint(index, jobs=2)
    by_dir = audit_checkpoint(index.parent, jobs=1)
    shards = sorted(str(p) for p in index.parent.glob("*.safetensors"))
    by_list = audit_checkpoint(shards, config=index.parent / "config.json", jobs=1)
    assert by_index.files == 3 and by_index.claims
    assert _spaces(by_index) == _spaces(single) == _spaces(by_dir) == _spaces(by_list)
    assert any(s.permanent for s in by_index.spaces)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_ties_are_found_on_their_bit_patterns(tmp_path, tensors, configs, dtype):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as save_torch

    t = _tie_ffn(tensors("llama"))
    t["model.layers.1.mlp.gate_proj.weight"][[3, 5], 0] = [0.0, -0.0]  # -0.0 equals +0.0
    folder = tmp_path / dtype
    folder.mkdir()
    save_torch(
        {n: torch.from_numpy(a).to(getattr(torch, dtype)) for n, a in t.items()},
        str(folder / "model.safetensors"),
    )
    (folder / "config.json").write_text(json.dumps(configs["llama"]))
    report = audit_checkpoint(folder, jobs=1)
    with open_store(folder) as store:
        code = {"float16": "F16", "bfloat16": "BF16"}[dtype]
        assert {r.dtype.name for r in store.tensors.values()} == {code}
    ffn = next(s for s in report.spaces if s.id == "layer1.ffn")
    assert ffn.classes == ((3, 5),) and ffn.permanent
    assert all(s.verdict == "full" for s in report.spaces if s.id != "layer1.ffn")


def test_training_checkpoint_is_audited_like_its_state_dict(tmp_path, checkpoint, tensors, configs):
    torch = pytest.importorskip("torch")
    t = _tie_ffn(tensors("llama"))
    single = audit_checkpoint(checkpoint("llama", t), jobs=1)
    folder = tmp_path / "train"
    folder.mkdir()
    state = {n: torch.from_numpy(a) for n, a in t.items()}
    optimizer = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(3)}},
        "param_groups": [{"lr": 0.1, "params": [0]}],
    }
    torch.save({"model": state, "optimizer": optimizer, "epoch": 7}, folder / "ckpt.pt")
    (folder / "config.json").write_text(json.dumps(configs["llama"]))
    report = audit_checkpoint(folder / "ckpt.pt", jobs=1)
    assert "training checkpoint" in report.container
    assert _spaces(report) == _spaces(single)
    assert "epoch" in report.skipped and not report.unrecognised


def _index_with(folder: Path, weight_map: dict | str) -> Path:
    index = folder / "model.safetensors.index.json"
    text = weight_map if isinstance(weight_map, str) else json.dumps({"weight_map": weight_map})
    index.write_text(text)
    return index


@pytest.mark.parametrize(
    ("weight_map", "message"),
    [
        ({"a": "../outside.safetensors"}, "index's own directory"),
        ({"a": "/etc/passwd.safetensors"}, "index's own directory"),
        ({"a": "sub/x.safetensors"}, "index's own directory"),
        ({"a": "x.bin"}, "index's own directory"),
        ({"a": "missing.safetensors"}, "missing.safetensors"),
        ('{"weight_map": {"a": "s1.safetensors", "a": "s1.safetensors"}}', "twice"),
        ({"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}, "also in"),
        ({"a": "s1.safetensors", "b": "s1.safetensors", "zz": "s1.safetensors"}, "absent"),
        ({}, "weight_map"),
        ("[1, 2]", "weight_map"),
        ("{not json", "not a valid JSON"),
    ],
)
def test_hostile_index_files_are_refused_with_one_line(tmp_path, weight_map, message):
    save_file(
        {"a": np.ones(2, np.float32), "b": np.ones(2, np.float32)}, str(tmp_path / "s1.safetensors")
    )
    save_file(
        {"b": np.ones(2, np.float32), "c": np.ones(2, np.float32)}, str(tmp_path / "s2.safetensors")
    )
    index = _index_with(tmp_path, weight_map)
    with pytest.raises(UnsafeFile) as err:
        audit_checkpoint(index, jobs=1)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_tensor_in_two_files_of_a_list_is_refused(tmp_path):
    save_file({"a": np.ones(2, np.float32)}, str(tmp_path / "s1.safetensors"))
    save_file({"a": np.ones(2, np.float32)}, str(tmp_path / "s2.safetensors"))
    files = [tmp_path / "s1.safetensors", tmp_path / "s2.safetensors"]
    with pytest.raises(UnsafeFile, match="'a' is also in"):
        audit_checkpoint(files, jobs=1)
    with pytest.raises(UnsafeFile, match="also in"):
        audit_checkpoint(tmp_path, jobs=1)  # a directory of both shards, no index


def test_fifo_shard_and_symlinked_file_are_refused(tmp_path):
    os.mkfifo(tmp_path / "s1.safetensors")
    index = _index_with(tmp_path, {"a": "s1.safetensors"})
    with pytest.raises(UnsafeFile, match="not a regular file"):
        audit_checkpoint(index, jobs=1)
    real = tmp_path / "real.safetensors"
    save_file({"a": np.ones((2, 2), np.float32)}, str(real))
    (tmp_path / "link.safetensors").symlink_to(real)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        audit_checkpoint(tmp_path / "link.safetensors", jobs=1)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, "offsets span 16"),
        ({"a": {"dtype": "C64", "shape": [2], "data_offsets": [0, 8]}}, "dtype"),
        ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, "non-negative"),
        ({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}, "limit"),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            "overlap",
        ),
    ],
)
def test_malformed_safetensors_headers_are_refused_before_reading(tmp_path, header, message):
    raw = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(16))
    with pytest.raises(UnsafeFile, match=message):
        open_store(path)


def test_json_report_has_a_schema_and_text_names_the_collapse(checkpoint, tensors):
    report = audit_checkpoint(checkpoint("llama", _tie_ffn(tensors("llama"))), jobs=1)
    data = json.loads(render(report, "json"))
    assert data["schema"] == SCHEMA and data["exit_code"] == 1
    ffn = next(s for s in data["spaces"] if s["id"] == "layer1.ffn")
    assert ffn["tie_classes"] == [[3, 5]] and ffn["permanent"] and ffn["effective_width"] == 11
    text = render(report)
    assert "layer 1 FFN neurons (SwiGLU): width 12, effective 11, collapsed" in text
    with pytest.raises(InvalidArgument, match="format"):
        render(report, "yaml")


def test_jobs_do_not_change_the_report(checkpoint, tensors):
    folder = checkpoint("mixtral", tensors("mixtral"))
    assert audit_checkpoint(folder, jobs=1).to_json() == audit_checkpoint(folder, jobs=3).to_json()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": -1.0}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"jobs": 0}, "jobs"),
        ({"jobs": 2.5}, "jobs"),
        ({"config": {"model_type": "llama"}}, ""),
    ],
)
def test_bad_arguments_are_refused(checkpoint, tensors, kwargs, message):
    folder = checkpoint("llama", tensors("llama"))
    if "config" in kwargs:  # a config whose keys are missing: no claim, not a crash
        report = audit_checkpoint(folder, jobs=1, **kwargs)
        assert not report.claims and "num_hidden_layers" in report.note
        return
    with pytest.raises(InvalidArgument, match=message):
        audit_checkpoint(folder, **kwargs)


def test_family_expressions_cannot_run_code():
    from symcheck.checkpoint.expr import evaluate

    assert evaluate("get('a') or 4 * b", {"b": 3}, {}) == 12
    assert evaluate("x == 'y' and 4 or 1", {"x": "y"}, {}) == 4
    for text in ("__import__('os')", "a.b", "(lambda: 1)()", "[1][0]" * 40):
        with pytest.raises(InvalidArgument):
            evaluate(text, {"a": 1}, {})


@pytest.mark.parametrize(
    "override",
    [
        {"num_local_experts": 10**9},
        {"intermediate_size": 10**12},
        {"num_hidden_layers": "many"},
        {"num_hidden_layers": 10**9},
        {"hidden_size": None},
    ],
)
def test_absurd_configs_give_no_claim_quickly(checkpoint, tensors, configs, override):
    config = dict(configs["mixtral"], **override)
    report = audit_checkpoint(checkpoint("mixtral", tensors("mixtral"), config), jobs=1)
    assert not any(s.permanent for s in report.spaces)
    assert not report.claims or report.unanalysed


@pytest.mark.parametrize(
    "header",
    [
        {"__metadata__": [1], "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
        {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}},
        [1, 2],
    ],
)
def test_the_store_and_load_weights_refuse_a_header_with_the_same_message(tmp_path, header):
    raw = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(8))
    with pytest.raises(UnsafeFile) as streamed:
        open_store(path)
    with pytest.raises(UnsafeFile) as loaded:
        load_weights(path)
    assert str(streamed.value) == str(loaded.value)


def _three_tensors(tmp_path):
    rng = np.random.default_rng(5)
    arrays = {f"t{i}": rng.standard_normal((64, 64)).astype(np.float32) for i in range(3)}
    path = tmp_path / "three.safetensors"
    save_file(arrays, str(path))
    return path, arrays


def test_the_store_keeps_idle_mappings_up_to_its_budget(tmp_path):
    # Each tensor is 16 KiB; a budget of 40 KiB keeps two idle mappings: a tensor
    # read again is the same mapping, the least recently used one is unmapped.
    path, arrays = _three_tensors(tmp_path)
    with open_store([path]) as store:
        store.cache_bytes = 40 << 10
        for name in ("t0", "t1", "t0", "t2"):
            with store.bits(name) as bits:
                assert np.array_equal(bits.view(np.float32), arrays[name])
                assert not bits.flags.writeable
        assert list(store._maps) == ["t0", "t2"]  # t1 was the least recently used
        with store.bits("t0") as again:
            assert again is store._maps["t0"].array  # mapped once, read twice
        store.cache_bytes = 0
        with store.bits("t1"):
            pass
        assert not store._maps and store._mapped_bytes == 0  # no budget: unmapped after use
    assert not store._maps and not store._fds


def test_a_mapping_in_use_is_never_unmapped(tmp_path):
    # A reader holds t0 while others go past a zero budget: t0 stays mapped and
    # readable until its reader is done, then it goes too.
    path, arrays = _three_tensors(tmp_path)
    with open_store([path]) as store:
        store.cache_bytes = 0
        with store.bits("t0") as held:
            for name in ("t1", "t2", "t1"):
                with store.bits(name):
                    pass
            assert list(store._maps) == ["t0"]
            assert np.array_equal(held.view(np.float32), arrays["t0"])
        assert not store._maps
