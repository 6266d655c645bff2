"""Tiny synthetic checkpoints of every family, written as the Hugging Face layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

CONFIGS: dict[str, dict] = {
    "bert": dict(
        model_type="bert",
        hidden_size=8,
        num_attention_heads=2,
        num_hidden_layers=2,
        intermediate_size=12,
        vocab_size=20,
        max_position_embeddings=10,
        type_vocab_size=2,
    ),
    "gpt2": dict(
        model_type="gpt2",
        n_embd=8,
        n_head=2,
        n_layer=2,
        n_inner=None,
        vocab_size=20,
        n_positions=10,
    ),
    "llama": dict(
        model_type="llama",
        hidden_size=8,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_hidden_layers=2,
        intermediate_size=12,
        vocab_size=20,
    ),
    "mixtral": dict(
        model_type="mixtral",
        hidden_size=8,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_hidden_layers=1,
        intermediate_size=12,
        vocab_size=20,
        num_local_experts=4,
    ),
    "vit": dict(
        model_type="vit",
        hidden_size=8,
        num_attention_heads=2,
        num_hidden_layers=1,
        intermediate_size=12,
        patch_size=2,
        num_channels=3,
        image_size=4,
    ),
    "resnet": dict(
        model_type="resnet",
        depths=[1, 1],
        hidden_sizes=[16, 32],
        layer_type="bottleneck",
        embedding_size=8,
        num_channels=3,
    ),
}


#: A Llama config whose FFN (80), residual stream (96) and value dims (24) are
#: wider than the Gram-matrix limit (64): the sketch and the shared slice norms run.
WIDE = dict(CONFIGS["llama"], hidden_size=96, intermediate_size=80, vocab_size=30)


def _bert(c: dict, vit: bool = False) -> dict[str, tuple[int, ...]]:
    h, f = c["hidden_size"], c["intermediate_size"]
    att = "attention.attention" if vit else "attention.self"
    s: dict[str, tuple[int, ...]] = {}
    if vit:
        s |= {
            "embeddings.cls_token": (1, 1, h),
            "embeddings.position_embeddings": (1, 5, h),
            "embeddings.patch_embeddings.projection.weight": (h, 3, 2, 2),
            "embeddings.patch_embeddings.projection.bias": (h,),
            "layernorm.weight": (h,),
            "layernorm.bias": (h,),
        }
    else:
        s |= {
            "embeddings.word_embeddings.weight": (20, h),
            "embeddings.position_embeddings.weight": (10, h),
            "embeddings.token_type_embeddings.weight": (2, h),
            "embeddings.LayerNorm.weight": (h,),
            "embeddings.LayerNorm.bias": (h,),
        }
    ln1, ln2 = (
        ("layernorm_before", "layernorm_after")
        if vit
        else ("attention.output.LayerNorm", "output.LayerNorm")
    )
    for layer in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        for q in ("query", "key", "value"):
            s[p + f"{att}.{q}.weight"] = (h, h)
            s[p + f"{att}.{q}.bias"] = (h,)
        s |= {
            p + "attention.output.dense.weight": (h, h),
            p + "attention.output.dense.bias": (h,),
            p + f"{ln1}.weight": (h,),
            p + f"{ln1}.bias": (h,),
            p + "intermediate.dense.weight": (f, h),
            p + "intermediate.dense.bias": (f,),
            p + "output.dense.weight": (h, f),
            p + "output.dense.bias": (h,),
            p + f"{ln2}.weight": (h,),
            p + f"{ln2}.bias": (h,),
        }
    return s


def _gpt2(c: dict) -> dict[str, tuple[int, ...]]:
    h = c["n_embd"]
    s = {"wte.weight": (20, h), "wpe.weight": (10, h), "ln_f.weight": (h,), "ln_f.bias": (h,)}
    for layer in range(c["n_layer"]):
        p = f"h.{layer}."
        s |= {
            p + "ln_1.weight": (h,),
            p + "ln_1.bias": (h,),
            p + "ln_2.weight": (h,),
            p + "ln_2.bias": (h,),
            p + "attn.c_attn.weight": (h, 3 * h),
            p + "attn.c_attn.bias": (3 * h,),
            p + "attn.c_proj.weight": (h, h),
            p + "attn.c_proj.bias": (h,),
            p + "mlp.c_fc.weight": (h, 4 * h),
            p + "mlp.c_fc.bias": (4 * h,),
            p + "mlp.c_proj.weight": (4 * h, h),
            p + "mlp.c_proj.bias": (h,),
        }
    return s


def _llama(c: dict, experts: int = 0) -> dict[str, tuple[int, ...]]:
    h, f = c["hidden_size"], c["intermediate_size"]
    hd = h // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd
    s = {"model.embed_tokens.weight": (20, h), "model.norm.weight": (h,), "lm_head.weight": (20, h)}
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        s |= {
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (h, h),
            p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h),
            p + "self_attn.o_proj.weight": (h, h),
        }
        if experts:
            m = p + "block_sparse_moe."
            s[m + "gate.weight"] = (experts, h)
            for e in range(experts):
                s |= {
                    m + f"experts.{e}.w1.weight": (f, h),
                    m + f"experts.{e}.w3.weight": (f, h),
                    m + f"experts.{e}.w2.weight": (h, f),
                }
        else:
            s |= {
                p + "mlp.gate_proj.weight": (f, h),
                p + "mlp.up_proj.weight": (f, h),
                p + "mlp.down_proj.weight": (h, f),
            }
    return s


def _resnet(c: dict) -> dict[str, tuple[int, ...]]:
    s = {
        "resnet.embedder.embedder.convolution.weight": (8, 3, 7, 7),
        "classifier.1.weight": (10, 32),
        "classifier.1.bias": (10,),
    }
    for name in ("weight", "bias", "running_mean", "running_var"):
        s[f"resnet.embedder.embedder.normalization.{name}"] = (8,)
    before = 8
    for stage, out in enumerate(c["hidden_sizes"]):
        p = f"resnet.encoder.stages.{stage}.layers.0."
        mid = out // 4
        convs = [(mid, before, 1, 1), (mid, mid, 3, 3), (out, mid, 1, 1)]
        for i, shape in enumerate(convs):
            s[p + f"layer.{i}.convolution.weight"] = shape
            for name in ("weight", "bias", "running_mean", "running_var"):
                s[p + f"layer.{i}.normalization.{name}"] = (shape[0],)
        s[p + "shortcut.convolution.weight"] = (out, before, 1, 1)
        for name in ("weight", "bias", "running_mean", "running_var"):
            s[p + f"shortcut.normalization.{name}"] = (out,)
        before = out
    return s


SHAPES: dict[str, Callable[[dict], dict[str, tuple[int, ...]]]] = {
    "bert": _bert,
    "gpt2": _gpt2,
    "llama": _llama,
    "mixtral": lambda c: _llama(c, experts=c["num_local_experts"]),
    "vit": lambda c: _bert(c, vit=True),
    "resnet": _resnet,
}


def random_tensors(
    family: str, *, seed: int = 0, config: dict | None = None
) -> dict[str, np.ndarray]:
    c = config or CONFIGS[family]
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(np.float32) for n, s in SHAPES[family](c).items()}


def write(folder: Path, tensors: dict[str, np.ndarray], config: dict | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(folder / "model.safetensors")
    )
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture
def checkpoint(tmp_path: Path) -> Callable[..., Path]:
    """``checkpoint(family, tensors=None, config=None)`` -> a directory with config.json."""
    count = iter(range(1000))

    def make(
        family: str,
        tensors: dict | None = None,
        config: dict | None = None,
        *,
        with_config: bool = True,
    ) -> Path:
        t = tensors if tensors is not None else random_tensors(family)
        c = config if config is not None else CONFIGS[family]
        return write(tmp_path / f"{family}{next(count)}", t, c if with_config else None)

    return make


def shard(folder: Path, tensors: dict[str, np.ndarray], config: dict, parts: int = 3) -> Path:
    """Write the Hugging Face sharded layout (``parts`` shards, an index, config.json)."""
    folder.mkdir()
    names = sorted(tensors)
    weight_map = {}
    for k in range(parts):
        name = f"model-{k + 1:05d}-of-{parts:05d}.safetensors"
        chunk = {n: np.ascontiguousarray(tensors[n]) for n in names[k::parts]}
        save_file(chunk, str(folder / name))
        weight_map |= dict.fromkeys(chunk, name)
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(config))
    return index


@pytest.fixture
def sharded() -> Callable[..., Path]:
    """``sharded(folder, tensors, config, parts=3)`` -> the index of a sharded checkpoint."""
    return shard


@pytest.fixture
def configs() -> dict[str, dict]:
    return CONFIGS


@pytest.fixture
def tensors() -> Callable[..., dict[str, np.ndarray]]:
    """``tensors(family, seed=0, config=None)``: random float32 tensors of the family."""
    return random_tensors


@pytest.fixture
def wide() -> dict:
    """:data:`WIDE`: a Llama config whose spaces are scanned through the sketch."""
    return dict(WIDE)
