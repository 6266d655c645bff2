"""Build the weight files that the commands in README.md and docs/ read.

``python docs/fixtures.py DIR`` writes every file below into ``DIR``; the docs
test (``tests/test_docs.py``) runs each document's commands in a fresh
directory prepared this way. Every file is built deterministically (fixed
seeds, no clock), so the outputs the docs show can be compared exactly.

The files:

- ``model.npz`` (README): a 16-64-32-10 MLP with keys ``0.weight`` ... ``4.bias``;
  hidden neurons 3 and 5 of layer 1 are tied (equal rows, biases and outgoing
  columns) and layer 2 has all-zero incoming weights but distinct outgoing
  weights, so its neurons are not tied.
- ``zero_mlp.pt`` (docs/audit.md): ``nn.Sequential(Linear(4, 16), Tanh(),
  Linear(16, 16), Tanh(), Linear(16, 3))`` after ``nn.init.zeros_``.
- ``kaiming_mlp.safetensors``: the same model with PyTorch's default init,
  ``torch.manual_seed(0)``.
- ``lumped.npz``: ``fc1 = ½·1``, ``fc2 = [[1, 0, 0], [0, ½, ½], [0, ½, ½]]``,
  ``fc3 = ¼·1``: one lumped block per layer, neurons 1 and 2 tied.
- ``attention.safetensors``: ``attn.q_proj.weight`` (row 5 copies row 2),
  ``attn.k_proj.weight`` (column 7 copies column 1), ``attn.ln.weight``.
- ``nan.npz``: a 2-4-1 chain with one NaN in ``0.weight``.
- ``evil.npz``: an object array whose unpickling would create ``pwned``.
- ``tiny-llama/`` (directory): a 2-layer Llama-style checkpoint (hidden 8, 4
  query heads in 2 key-value groups, FFN 12) as ``model.safetensors`` with its
  ``config.json``; FFN neuron 7 of layer 1 is a copy of neuron 2 (gate and up
  rows, down column) and FFN neuron 9 of layer 0 is dead (all-zero down column).
- ``tiny-llama-permuted/`` (docs/checkpoint.md, ``diff``): the same network with
  its residual stream, the FFN neurons of both layers and the two KV groups of
  both layers permuted; ``tiny-llama-noisy/``: that copy plus noise of standard
  deviation 1e-4 on every weight.
"""

from __future__ import annotations

import io
import json
import pickle
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


class _CreatesFile:
    """Unpickling this object creates the file ``pwned`` (the attack evil.npz carries)."""

    def __reduce__(self) -> tuple:
        return (open, ("pwned", "w"))


def _model_npz(path: Path) -> None:
    rng = np.random.default_rng(0)
    w0, b0 = rng.standard_normal((64, 16)), rng.standard_normal(64)
    w0[5], b0[5] = w0[3], b0[3]
    w2, b2 = np.zeros((32, 64)), np.zeros(32)
    w4, b4 = rng.standard_normal((10, 32)), rng.standard_normal(10)
    tensors = {"0.weight": w0, "0.bias": b0, "2.weight": w2, "2.bias": b2}
    np.savez(path, **tensors, **{"4.weight": w4, "4.bias": b4})


def _torch_mlp():  # -> torch.nn.Sequential
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(4, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 3),
    )


def _zero_mlp_pt(path: Path) -> None:
    import torch

    model = _torch_mlp()
    for parameter in model.parameters():
        torch.nn.init.zeros_(parameter)
    torch.save(model.state_dict(), path)


def _kaiming_mlp_safetensors(path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = _torch_mlp()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def _lumped_npz(path: Path) -> None:
    half = 0.5
    fc2 = np.array([[1.0, 0.0, 0.0], [0.0, half, half], [0.0, half, half]])
    tensors = {"fc1.weight": np.full((3, 1), half), "fc2.weight": fc2}
    np.savez(path, **tensors, **{"fc3.weight": np.full((1, 3), 0.25)})


def _attention_safetensors(path: Path) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    q = rng.standard_normal((8, 8)).astype(np.float32)
    k = rng.standard_normal((8, 8)).astype(np.float32)
    q[5] = q[2]
    k[:, 7] = k[:, 1]
    ln = np.ones(8, dtype=np.float32)
    save_file({"attn.q_proj.weight": q, "attn.k_proj.weight": k, "attn.ln.weight": ln}, str(path))


def _nan_npz(path: Path) -> None:
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 2))
    w0[1, 0] = np.nan
    np.savez(path, **{"0.weight": w0, "2.weight": rng.standard_normal((1, 4))})


def _evil_npz(path: Path) -> None:
    payload = pickle.dumps(np.array([_CreatesFile()], dtype=object), protocol=2)
    header = {"descr": "|O", "fortran_order": False, "shape": (1,)}
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", stream.getvalue() + payload)


#: File name -> builder; one recipe per file.
_TINY_LLAMA = {
    "model_type": "llama",
    "hidden_size": 8,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 12,
    "vocab_size": 20,
}


def _tiny_llama_tensors() -> dict[str, np.ndarray]:
    c = _TINY_LLAMA
    h, f, kv = c["hidden_size"], c["intermediate_size"], 2 * (8 // 4)
    rng = np.random.default_rng(7)
    shapes = {"model.embed_tokens.weight": (20, h), "model.norm.weight": (h,)}
    shapes["lm_head.weight"] = (20, h)
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes |= {p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,)}
        for name, shape in (("q", (h, h)), ("k", (kv, h)), ("v", (kv, h)), ("o", (h, h))):
            shapes[p + f"self_attn.{name}_proj.weight"] = shape
        for name, shape in (("gate", (f, h)), ("up", (f, h)), ("down", (h, f))):
            shapes[p + f"mlp.{name}_proj.weight"] = shape
    t = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    mlp = "model.layers.{}.mlp.{}_proj.weight"
    for name in ("gate", "up"):
        t[mlp.format(1, name)][7] = t[mlp.format(1, name)][2]
    t[mlp.format(1, "down")][:, 7] = t[mlp.format(1, "down")][:, 2]
    t[mlp.format(0, "down")][:, 9] = 0.0
    return t


def _save_llama(path: Path, tensors: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    path.mkdir(exist_ok=True)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path / "model.safetensors")
    )
    (path / "config.json").write_text(json.dumps(_TINY_LLAMA, indent=1))


def _tiny_llama(path: Path) -> None:
    _save_llama(path, _tiny_llama_tensors())


def _permuted_llama() -> dict[str, np.ndarray]:
    """tiny-llama with its residual stream, FFN neurons and KV groups permuted (same network)."""
    rng = np.random.default_rng(11)
    t = _tiny_llama_tensors()
    stream = rng.permutation(8)
    for name, value in t.items():
        if name.endswith(("o_proj.weight", "down_proj.weight", "norm.weight")):
            t[name] = value[stream]
        elif value.ndim == 2:  # embeddings and every other projection read the stream
            t[name] = value[:, stream]
    for layer in range(2):
        p = f"model.layers.{layer}."
        ffn = rng.permutation(12)
        t[p + "mlp.gate_proj.weight"] = t[p + "mlp.gate_proj.weight"][ffn]
        t[p + "mlp.up_proj.weight"] = t[p + "mlp.up_proj.weight"][ffn]
        t[p + "mlp.down_proj.weight"] = t[p + "mlp.down_proj.weight"][:, ffn]
        # swap the two KV groups: 2 key-value heads of 2 dims, each with 2 query heads
        t[p + "self_attn.q_proj.weight"] = t[p + "self_attn.q_proj.weight"][
            [4, 5, 6, 7, 0, 1, 2, 3]
        ]
        t[p + "self_attn.o_proj.weight"] = t[p + "self_attn.o_proj.weight"][
            :, [4, 5, 6, 7, 0, 1, 2, 3]
        ]
        for name in ("k_proj", "v_proj"):
            t[p + f"self_attn.{name}.weight"] = t[p + f"self_attn.{name}.weight"][[2, 3, 0, 1]]
    return t


def _tiny_llama_permuted(path: Path) -> None:
    _save_llama(path, _permuted_llama())


def _tiny_llama_noisy(path: Path) -> None:
    rng = np.random.default_rng(13)
    t = _permuted_llama()
    _save_llama(
        path,
        {k: v + np.float32(1e-4) * rng.standard_normal(v.shape, np.float32) for k, v in t.items()},
    )


FIXTURES: dict[str, Callable[[Path], None]] = {
    "model.npz": _model_npz,
    "zero_mlp.pt": _zero_mlp_pt,
    "kaiming_mlp.safetensors": _kaiming_mlp_safetensors,
    "lumped.npz": _lumped_npz,
    "attention.safetensors": _attention_safetensors,
    "nan.npz": _nan_npz,
    "evil.npz": _evil_npz,
    "tiny-llama": _tiny_llama,
    "tiny-llama-permuted": _tiny_llama_permuted,
    "tiny-llama-noisy": _tiny_llama_noisy,
}


def build(directory: Path) -> list[Path]:
    """Write every fixture into ``directory`` (which must exist); return the paths."""
    paths = []
    for name, recipe in FIXTURES.items():
        recipe(directory / name)
        paths.append(directory / name)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python docs/fixtures.py DIRECTORY (an existing directory)")
    for written in build(Path(sys.argv[1])):
        print(f"wrote {written}")
