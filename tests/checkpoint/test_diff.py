"""``diff(a, b)``: a permuted copy is the same network, noise and other weights are not.

B is built from A by permutations written independently of the code under
test: the graph core's :func:`apply_permutation` for zoo models, and by hand
(index arithmetic below) for the Llama and Mixtral family layouts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.checkpoint import diff
from symcheck.checkpoint.align import Alignment
from symcheck.errors import InvalidArgument
from symcheck.graph.symmetry import apply_permutation, infer_symmetries
from symcheck.graph.zoo import resolve_model
from symcheck.limits import Limits

TRANSFORMER = "transformer:d_model=16,heads=4,kv_heads=2,d_ff=24,rope=1,layers=2"


def _save(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))
    return path


def _zoo_pair(tmp_path: Path, spec: str, seed: int = 1) -> tuple[Path, Path, dict]:
    """A random checkpoint of ``spec`` and a copy permuted in every movable space."""
    graph = resolve_model(spec)
    rng = np.random.default_rng(seed)
    a = {p.name: rng.standard_normal(p.shape).astype(np.float32) for p in graph.parameters}
    b, perms = dict(a), {}
    for space in infer_symmetries(graph).movable:
        if space.group == "restricted":
            perm = np.concatenate([rng.permutation(list(block)) for block in space.blocks])
        else:
            perm = rng.permutation(space.size)
        perms[space.name] = perm
        b = apply_permutation(graph, b, space, perm)
    return _save(tmp_path / "a.safetensors", a), _save(tmp_path / "b.safetensors", b), perms


def test_a_zoo_transformer_permuted_in_every_space_is_the_same_network(tmp_path):
    a, b, perms = _zoo_pair(tmp_path, TRANSFORMER)
    report = diff(a, b, model=TRANSFORMER)
    assert report.verdict == "same-up-to-permutation" and report.exact and report.exit_code == 0
    assert report.after == 0 and report.before > 0.5
    assert all(p.equal and p.after == 0 for p in report.parameters)
    # the quantile pass alone aligned it: the descent was not needed
    assert report.descent == "not needed" and report.iterations == 0
    found = {s.id: s.permutation for s in report.spaces}
    # apply_permutation: B unit j = A unit perm[j]; the report: A unit j = B unit p[j].
    for name in ("b0.gate", "b1.gate", "stream"):
        assert found[name] == tuple(np.argsort(perms[name]))
    # RoPE fixes the query-key dims: no such space is permuted.
    assert not any("qk_dim" in s.id for s in report.spaces)


@pytest.mark.parametrize(
    "spec",
    ["transformer", "transformer:rope=1", "cnn", "resmlp", "4-8-8-3", "moe", "moe:experts=5"],
)
def test_other_zoo_models_permuted_are_the_same_network(tmp_path, spec):
    a, b, _ = _zoo_pair(tmp_path, spec, seed=3)
    report = diff(a, b, model=spec)
    assert report.verdict == "same-up-to-permutation" and report.after == 0
    assert report.before > 0.5 and all(s.aligned for s in report.spaces)
    assert all(sorted(s.permutation) == list(range(s.width)) for s in report.spaces)


def test_noise_is_different_with_a_small_aligned_distance(tmp_path):
    a, b, _ = _zoo_pair(tmp_path, TRANSFORMER)
    rng = np.random.default_rng(9)
    from safetensors.numpy import load_file

    noisy = {
        k: v + 1e-4 * rng.standard_normal(v.shape).astype(np.float32)
        for k, v in load_file(str(b)).items()
    }
    b = _save(tmp_path / "noisy.safetensors", noisy)
    report = diff(a, b, model=TRANSFORMER)
    assert report.verdict == "different" and report.exit_code == 1 and not report.exact
    assert 0 < report.after < 1e-3 < 0.5 < report.before
    within = diff(a, b, model=TRANSFORMER, tolerance=1e-3)
    assert within.verdict == "same-up-to-permutation" and not within.exact
    assert within.exit_code == 0 and "within tolerance 0.001, not exact" in within.text()
    assert diff(a, b, model=TRANSFORMER, tolerance=1e-6).verdict == "different"


def test_unrelated_weights_are_different(tmp_path):
    a, _, _ = _zoo_pair(tmp_path, TRANSFORMER, seed=1)
    other = tmp_path / "other"
    other.mkdir()
    c, _, _ = _zoo_pair(other, TRANSFORMER, seed=2)
    report = diff(a, c, model=TRANSFORMER)
    assert report.verdict == "different" and report.after > 0.5
    assert report.after <= report.before  # alignment never increases the distance here


def test_a_broken_alignment_that_skips_one_tensor_is_caught(tmp_path, monkeypatch):
    a, b, _ = _zoo_pair(tmp_path, TRANSFORMER)
    permute = Alignment.permute

    def skip_down(self, space, perm):
        members = tuple(m for m in space.members if m.tensors[0] != "b0.down.weight")
        permute(self, type(space)(space.id, space.kind, space.label, space.width, members), perm)

    monkeypatch.setattr(Alignment, "permute", skip_down)
    report = diff(a, b, model=TRANSFORMER)
    assert report.verdict == "different" and not report.exact
    unequal = {p.name for p in report.parameters if not p.equal}
    assert "b0.down.weight" in unequal


def test_the_same_checkpoint_is_the_same_without_moving_a_unit(tmp_path):
    a, _, _ = _zoo_pair(tmp_path, TRANSFORMER)
    report = diff(a, a, model=TRANSFORMER)
    assert report.exact and report.before == 0 and all(s.moved == 0 for s in report.spaces)


# --------------------------------------------------------------------------- families


def _permute_llama(
    t: dict, c: dict, rng: np.random.Generator, *, experts: int = 0, record: dict | None = None
) -> dict:
    """Permute a Llama/Mixtral state dict by hand in every unit space of the family.

    ``record`` receives, per space id, the permutation the report must find:
    unit ``j`` of A is unit ``p[j]`` of B (relative to the outer unit for
    nested spaces).
    """
    record = {} if record is None else record
    h, f, heads, kv = (
        c[k]
        for k in ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads")
    )
    hd, group = h // heads, heads // kv
    out = {k: v.copy() for k, v in t.items()}
    s = rng.permutation(h)  # the residual stream
    record["stream"] = tuple(np.argsort(s))
    for name in out:
        v = out[name]
        if name.endswith(
            (
                "embed_tokens.weight",
                "lm_head.weight",
                "q_proj.weight",
                "k_proj.weight",
                "v_proj.weight",
                "gate.weight",
                "gate_proj.weight",
                "up_proj.weight",
                "w1.weight",
                "w3.weight",
            )
        ):
            out[name] = v[:, s]
        elif name.endswith(("o_proj.weight", "down_proj.weight", "w2.weight")):
            out[name] = v[s]
        elif name.endswith("norm.weight"):
            out[name] = v[s]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        g = rng.permutation(kv)
        qp = [rng.permutation(group) for _ in range(kv)]
        vp = [rng.permutation(hd) for _ in range(kv)]
        outer = np.argsort(g)
        record[f"layer{layer}.kv_groups"] = tuple(outer)
        for j in range(kv):
            record[f"layer{layer}.kv{j}.vo"] = tuple(np.argsort(vp[outer[j]]))
            if group > 1:
                record[f"layer{layer}.group{j}.heads"] = tuple(np.argsort(qp[outer[j]]))
        q_rows = np.array(
            [
                (g[k] * group + qp[k][q]) * hd + d
                for k in range(kv)
                for q in range(group)
                for d in range(hd)
            ]
        )
        kv_rows = np.array([g[k] * hd + d for k in range(kv) for d in range(hd)])
        v_rows = np.array([g[k] * hd + vp[k][d] for k in range(kv) for d in range(hd)])
        o_cols = np.array(
            [
                (g[k] * group + qp[k][q]) * hd + vp[k][d]
                for k in range(kv)
                for q in range(group)
                for d in range(hd)
            ]
        )
        a = p + "self_attn."
        out[a + "q_proj.weight"] = out[a + "q_proj.weight"][q_rows]
        out[a + "k_proj.weight"] = out[a + "k_proj.weight"][kv_rows]
        out[a + "v_proj.weight"] = out[a + "v_proj.weight"][v_rows]
        out[a + "o_proj.weight"] = out[a + "o_proj.weight"][:, o_cols]
        if experts:
            m = p + "block_sparse_moe."
            e = rng.permutation(experts)
            out[m + "gate.weight"] = out[m + "gate.weight"][e]
            moved = {}
            for i in range(experts):
                n = rng.permutation(f)
                src = m + f"experts.{e[i]}."
                moved[m + f"experts.{i}.w1.weight"] = out[src + "w1.weight"][n]
                moved[m + f"experts.{i}.w3.weight"] = out[src + "w3.weight"][n]
                moved[m + f"experts.{i}.w2.weight"] = out[src + "w2.weight"][:, n]
            out |= moved
        else:
            n = rng.permutation(f)
            record[f"layer{layer}.ffn"] = tuple(np.argsort(n))
            for name in ("gate_proj", "up_proj"):
                out[p + f"mlp.{name}.weight"] = out[p + f"mlp.{name}.weight"][n]
            out[p + "mlp.down_proj.weight"] = out[p + "mlp.down_proj.weight"][:, n]
    return out


@pytest.mark.parametrize("family", ["llama", "mixtral"])
def test_a_family_checkpoint_permuted_by_hand_is_the_same_network(
    checkpoint, tensors, configs, family
):
    c = configs[family]
    t = tensors(family)
    experts = c.get("num_local_experts", 0)
    expected: dict = {}
    permuted = _permute_llama(t, c, np.random.default_rng(5), experts=experts, record=expected)
    a, b = checkpoint(family, t), checkpoint(family, permuted)
    report = diff(a, b)
    assert report.source == "family" and report.architecture.startswith(family)
    assert report.verdict == "same-up-to-permutation" and report.after == 0 and report.before > 0.5
    assert all(s.aligned for s in report.spaces)
    found = {s.id: s.permutation for s in report.spaces}
    assert expected and {k: found[k] for k in expected} == expected
    if experts:
        assert any(s.kind == "expert" and s.moved for s in report.spaces)


def _permute_spaces(t: dict, spaces, rng: np.random.Generator) -> dict:
    """Permute ``t`` by a random permutation of every space, member by member (NumPy only)."""
    t = {k: v.copy() for k, v in t.items()}
    for space in spaces:
        perm = rng.permutation(space.width)
        for m in space.members:
            if m.axis is None:
                old = [t[n] for n in m.tensors]
                t |= {n: old[perm[j]] for j, n in enumerate(m.tensors)}
                continue
            name = m.tensors[0]
            index = np.arange(t[name].shape[m.axis])
            for j in range(space.width):
                start, source = m.offset + j * m.stride, m.offset + perm[j] * m.stride
                index[start : start + m.block] = np.arange(source, source + m.block)
            t[name] = np.take(t[name], index, axis=m.axis)
    return t


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "mixtral", "vit", "resnet"])
def test_every_family_permuted_in_every_space_of_its_file_is_the_same(
    checkpoint, tensors, configs, family
):
    from symcheck.checkpoint.families import family_for, resolve

    c, t = configs[family], tensors(family)
    spaces, _, _ = resolve(family_for(c["model_type"]), c, {k: v.shape for k, v in t.items()})
    permuted = _permute_spaces(t, spaces, np.random.default_rng(3))
    report = diff(checkpoint(family, t), checkpoint(family, permuted))
    assert report.verdict == "same-up-to-permutation" and report.before > 0.5
    assert sum(s.moved > 0 for s in report.spaces) >= len(spaces) // 2


def test_a_family_checkpoint_with_noise_or_other_weights_is_different(checkpoint, tensors, configs):
    t = tensors("llama")
    permuted = _permute_llama(t, configs["llama"], np.random.default_rng(5))
    rng = np.random.default_rng(0)
    noisy = {
        k: v + 1e-5 * rng.standard_normal(v.shape).astype(np.float32) for k, v in permuted.items()
    }
    a = checkpoint("llama", t)
    near = diff(a, checkpoint("llama", noisy))
    assert near.verdict == "different" and 0 < near.after < 1e-4
    far = diff(a, checkpoint("llama", tensors("llama", seed=1)))
    assert far.verdict == "different" and far.after > 0.5


def test_a_space_with_an_unknown_coupled_tensor_is_not_permuted(checkpoint, tensors, configs):
    t = tensors("llama")
    t["model.layers.0.mlp.extra"] = np.ones((3, 12), dtype=np.float32)  # could read FFN units
    permuted = _permute_llama(t, configs["llama"], np.random.default_rng(5))
    report = diff(checkpoint("llama", t), checkpoint("llama", permuted))
    ffn = next(s for s in report.spaces if s.id == "layer0.ffn")
    assert not ffn.aligned and "outside the family" in ffn.reason
    assert report.verdict == "different"  # never "same" through a space it may not permute


# --------------------------------------------------------------------------- chains


def test_a_plain_mlp_state_dict_is_aligned_on_its_hidden_neurons(tmp_path):
    rng = np.random.default_rng(0)
    w = {"0.weight": rng.standard_normal((6, 3)), "0.bias": rng.standard_normal(6)}
    w |= {"2.weight": rng.standard_normal((5, 6)), "2.bias": rng.standard_normal(5)}
    w |= {"4.weight": rng.standard_normal((2, 5))}
    p1, p2 = rng.permutation(6), rng.permutation(5)
    v = {"0.weight": w["0.weight"][p1], "0.bias": w["0.bias"][p1]}
    v |= {"2.weight": w["2.weight"][p2][:, p1], "2.bias": w["2.bias"][p2]}
    v |= {"4.weight": w["4.weight"][:, p2]}
    np.savez(tmp_path / "a.npz", **w)
    np.savez(tmp_path / "b.npz", **v)
    report = diff(tmp_path / "a.npz", tmp_path / "b.npz")
    assert report.source == "chain" and "assumed" in report.note
    assert report.verdict == "same-up-to-permutation"
    assert [s.permutation for s in report.spaces] == [tuple(np.argsort(p1)), tuple(np.argsort(p2))]


def test_without_unit_spaces_a_permuted_copy_is_reported_different(tmp_path):
    rng = np.random.default_rng(0)
    w = {"q": rng.standard_normal((4, 4)), "k": rng.standard_normal((4, 4))}
    np.savez(tmp_path / "a.npz", **w)
    np.savez(tmp_path / "b.npz", q=w["q"][[1, 0, 2, 3]], k=w["k"])
    report = diff(tmp_path / "a.npz", tmp_path / "b.npz")
    assert report.source == "none" and not report.spaces and report.verdict == "different"


# --------------------------------------------------------------------------- bad input and limits


def test_mismatched_names_shapes_and_dtypes_are_refused_naming_the_first(tmp_path):
    x = np.zeros((2, 3), dtype=np.float32)
    a = _save(tmp_path / "a.safetensors", {"w": x, "v": x})
    cases = {
        "b1": ({"w": x}, "tensor 'v' is in A but not in B"),
        "b2": ({"w": x, "v": x, "u": x}, "tensor 'u' is in B but not in A"),
        "b3": ({"w": x, "v": x.T.copy()}, "tensor 'v' has shape (2, 3) in A and (3, 2) in B"),
        "b4": ({"w": x, "v": x.astype(np.float16)}, "tensor 'v' is F32 in A and F16 in B"),
    }
    for name, (tensors, message) in cases.items():
        b = _save(tmp_path / f"{name}.safetensors", tensors)
        with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
            diff(a, b)


def test_limits_are_checked_before_any_work(tmp_path, monkeypatch):
    a, b, _ = _zoo_pair(tmp_path, TRANSFORMER)
    import symcheck.checkpoint.compare as module

    monkeypatch.setattr(module, "weight_matching", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(InvalidArgument, match="has 24 units, beyond the diff limit of 16"):
        diff(a, b, model=TRANSFORMER, limits=Limits(diff_width=16))


def test_the_work_limit_skips_the_descent_and_says_so(tmp_path):
    a, b, _ = _zoo_pair(tmp_path, TRANSFORMER)
    rng = np.random.default_rng(9)
    from safetensors.numpy import load_file

    noisy = {
        k: v + 1e-4 * np.float32(rng.standard_normal(v.shape)) for k, v in load_file(str(b)).items()
    }
    b = _save(tmp_path / "noisy.safetensors", noisy)
    full = diff(a, b, model=TRANSFORMER)
    assert full.descent == "converged" and full.work > 0
    capped = diff(a, b, model=TRANSFORMER, limits=Limits(diff_work=full.work - 1))
    assert capped.descent == "skipped" and capped.iterations == 0
    assert "beyond Limits.diff_work; aligned by the quantile pass only" in capped.text()
    assert capped.verdict == "different" and capped.after < 1e-3  # the quantile pass found it


def test_the_iteration_limit_bounds_the_sweeps_and_the_verdict_stays_checked(tmp_path):
    a, _, _ = _zoo_pair(tmp_path, TRANSFORMER, seed=1)
    other = tmp_path / "other"
    other.mkdir()
    c, _, _ = _zoo_pair(other, TRANSFORMER, seed=2)
    free = diff(a, c, model=TRANSFORMER)
    assert free.descent == "converged" and free.iterations > 1  # several sweeps needed
    capped = diff(a, c, model=TRANSFORMER, limits=Limits(diff_iterations=1))
    assert capped.iterations == 1 and capped.descent == "stopped"
    assert capped.verdict == "different" and not capped.exact
    assert "stopped (iteration limit) after 1 sweep(s)" in capped.text()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tolerance": -1.0}, "tolerance=-1.0 must be a finite number >= 0"),
        ({"tolerance": float("nan")}, "tolerance=nan must be a finite number >= 0"),
        ({"seed": -1}, "seed=-1 must be an int"),
        ({"model": "mlp", "config": {}}, "give either a model or a config"),
        ({"model": "mlp"}, "tensor 'b0.down.weight' of the checkpoint is not a parameter"),
        ({"model": "transformer:d_model=8,heads=2,d_ff=12"}, "'b0.down.weight' has shape"),
    ],
)
def test_invalid_arguments_are_refused(tmp_path, kwargs, message):
    a, b, _ = _zoo_pair(tmp_path, "transformer")
    with pytest.raises(InvalidArgument, match=message):
        diff(a, b, **kwargs)


def test_the_json_form_is_versioned_and_finite(tmp_path):
    a, b, _ = _zoo_pair(tmp_path, TRANSFORMER)
    data = json.loads(diff(a, b, model=TRANSFORMER).to_json())
    assert data["schema"] == "symcheck.diff/1" and data["verdict"] == "same-up-to-permutation"
    assert data["exact"] and data["exit_code"] == 0 and data["distance_after"] == 0
    stream = next(s for s in data["spaces"] if s["id"] == "stream")
    assert sorted(stream["permutation"]) == list(range(16))
    assert {p["name"] for p in data["tensors_compared"]} == set(
        resolve_model(TRANSFORMER).parameter_names
    )


# --------------------------------------------------------------------------- the alignment itself


def _store(tmp_path: Path, tensors: dict[str, np.ndarray]):
    from symcheck.checkpoint.store import open_store

    return open_store(_save(tmp_path / "w.safetensors", tensors))


def test_an_outer_permutation_carries_the_inner_ones_of_its_units(tmp_path):
    from symcheck.checkpoint.families import Member, Space

    v = np.arange(12, dtype=np.float32).reshape(4, 3)
    groups = Space("groups", "head", "groups", 2, (Member(("v",), 0, 0, 2, 2, "in"),))
    inner = [
        Space(f"g{k}", "vo_dim", "", 2, (Member(("v",), 0, 2 * k, 1, 1, "in"),)) for k in (0, 1)
    ]
    with _store(tmp_path, {"v": v}) as store:
        alignment = Alignment({"v": (4, 3)})
        alignment.permute(inner[0], np.array([1, 0]))  # rows 1, 0, 2, 3
        alignment.permute(groups, np.array([1, 0]))  # the groups swap, the swapped pair moves along
        np.testing.assert_array_equal(alignment.bits(store, "v").view(np.float32), v[[2, 3, 1, 0]])
    assert alignment.permutation(groups) == (1, 0)
    # relative to the group each slot now holds: slot 0 holds B's group 1 unchanged
    assert [alignment.permutation(s) for s in inner] == [(0, 1), (1, 0)]


def test_an_expert_permutation_carries_the_neuron_permutation_of_each_expert(tmp_path):
    from symcheck.checkpoint.align import EntryMember
    from symcheck.checkpoint.families import Member, Space

    w = np.arange(24, dtype=np.float32).reshape(3, 4, 2)
    experts = Space("experts", "expert", "", 3, (Member(("w",), 0, 0, 1, 1, "param"),))
    member = EntryMember(("w",), 1, 0, 1, 1, "param", outer_axis=0, entry=0)
    neurons = Space("e0", "neuron", "", 4, (member,))
    with _store(tmp_path, {"w": w}) as store:
        alignment = Alignment({"w": (3, 4, 2)})
        alignment.permute(neurons, np.array([1, 0, 3, 2]))
        alignment.permute(experts, np.array([2, 0, 1]))
        expected = np.stack([w[2], w[0][[1, 0, 3, 2]], w[1]])
        np.testing.assert_array_equal(alignment.bits(store, "w").view(np.float32), expected)
    assert alignment.permutation(experts) == (2, 0, 1)
    assert alignment.permutation(neurons) == (0, 1, 2, 3)  # expert slot 0 now holds B's expert 2


# --------------------------------------------------------------------------- sources, values, CLI


def test_a_sharded_checkpoint_is_compared_with_a_single_file(tmp_path):
    a, b, _ = _zoo_pair(tmp_path, TRANSFORMER)
    from safetensors.numpy import load_file

    tensors = load_file(str(a))
    names = sorted(tensors)
    shards = tmp_path / "sharded"
    shards.mkdir()
    weight_map = {}
    for k, part in enumerate((names[: len(names) // 2], names[len(names) // 2 :])):
        shard = f"model-{k + 1:05d}-of-00002.safetensors"
        _save(shards / shard, {n: tensors[n] for n in part})
        weight_map |= {n: shard for n in part}
    index = {"metadata": {}, "weight_map": weight_map}
    (shards / "model.safetensors.index.json").write_text(json.dumps(index))
    report = diff(shards, b, model=TRANSFORMER)
    assert report.verdict == "same-up-to-permutation" and report.a == "sharded"


def test_nan_in_the_same_place_is_equal_and_the_distances_are_undefined(tmp_path):
    rng = np.random.default_rng(0)
    w = {"0.weight": rng.standard_normal((4, 3)), "2.weight": rng.standard_normal((2, 4))}
    w["0.weight"][1, 2] = np.nan
    perm = np.array([2, 0, 3, 1])
    v = {"0.weight": w["0.weight"][perm], "2.weight": w["2.weight"][:, perm]}
    np.savez(tmp_path / "a.npz", **w)
    np.savez(tmp_path / "b.npz", **v)
    report = diff(tmp_path / "a.npz", tmp_path / "b.npz")
    assert report.verdict == "same-up-to-permutation" and report.exact
    assert report.spaces[0].permutation == tuple(np.argsort(perm))
    first = next(p for p in report.parameters if p.name == "0.weight")
    assert first.nonfinite and first.before is None and first.after is None
    data = json.loads(report.to_json())
    assert data["distance_after"] is None and "after undefined" in report.text()
    v["0.weight"][0, 0] += 1.0
    np.savez(tmp_path / "c.npz", **v)
    changed = diff(tmp_path / "a.npz", tmp_path / "c.npz", tolerance=1.0)
    assert changed.verdict == "different"  # an undefined distance is never within a tolerance


def test_the_command_line_exit_codes_and_formats(tmp_path, capsys):
    from symcheck.cli import main

    a, b, _ = _zoo_pair(tmp_path, TRANSFORMER)
    assert main(["diff", str(a), str(b), "--model", TRANSFORMER]) == 0
    out = capsys.readouterr().out
    assert "verdict: same-up-to-permutation (exact" in out and "after 0" in out
    other = tmp_path / "other"
    other.mkdir()
    c, _, _ = _zoo_pair(other, TRANSFORMER, seed=2)
    assert main(["diff", str(a), str(c), "--model", TRANSFORMER, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "different" and data["exit_code"] == 1
    assert main(["diff", str(a), str(a), "--model", "mlp"]) == 2
    assert "is not a parameter of the model" in capsys.readouterr().err


def test_a_space_of_one_unit_is_aligned_trivially(tmp_path):
    rng = np.random.default_rng(0)
    w = {"0.weight": rng.standard_normal((1, 3)), "2.weight": rng.standard_normal((2, 1))}
    np.savez(tmp_path / "a.npz", **w)
    report = diff(tmp_path / "a.npz", tmp_path / "a.npz")
    (space,) = report.spaces
    assert space.width == 1 and space.aligned and space.reason is None
    assert space.permutation == (0,) and report.exact and "not aligned" not in report.text()
