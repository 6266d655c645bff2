"""Benchmark: ``symcheck.checkpoint.diff`` on a float16 Llama-style checkpoint and a permuted copy.

A is the checkpoint of ``bench/audit_checkpoint.py`` (hidden 2048, 16 query /
4 KV heads, FFN 5632, vocabulary 32000; ``--scale`` times its 18 layers), in
four shards with an index and a ``config.json``. B is the same network with
its residual stream, the FFN neurons of every layer and the KV groups of
every layer permuted, written tensor by tensor. Measured in one run, each in
a fresh child process:

* diff: ``diff(A, B)`` (verdict, sweeps), wall and CPU time, peak RSS
  (``ru_maxrss`` of the child; it runs first, so the figure is its own);
* floor: read every tensor of A and of B with ``safetensors.safe_open`` and
  sum it in float32.

Run from the repository root: ``PYTHONPATH=. python bench/diff.py``
(default ``--scale 0.25``: 4 layers, 0.65 GB per checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import _record  # bench/ is the script's directory, hence on the path
import numpy as np
from audit_checkpoint import _child, _config, build
from safetensors import safe_open
from safetensors.numpy import save_file

_DIFF = """
import sys
from symcheck.checkpoint import diff
report = diff(sys.argv[1], sys.argv[2])
print(report.verdict, report.iterations, f"{report.before:.3f}", f"{report.after:.3g}")
"""

_FLOOR = """
import sys, json, os
import numpy as np
from safetensors import safe_open
total = 0.0
for index in sys.argv[1:]:
    folder = os.path.dirname(index)
    for shard in sorted(set(json.load(open(index))["weight_map"].values())):
        with safe_open(os.path.join(folder, shard), framework="numpy") as f:
            for name in f.keys():
                total += float(np.sum(f.get_tensor(name), dtype=np.float32))
print(total)
"""


def _permuted(name: str, value: np.ndarray, perms: dict) -> np.ndarray:
    """``value`` of tensor ``name`` in B: the same network, units permuted."""
    stream = perms["stream"]
    if name.endswith(("o_proj.weight", "down_proj.weight", "norm.weight")):
        value = value[stream]
    else:
        value = value[:, stream]
    if ".layers." not in name:
        return value
    layer = int(name.split(".layers.")[1].split(".")[0])
    ffn, groups = perms["ffn"][layer], perms["groups"][layer]
    if name.endswith(("gate_proj.weight", "up_proj.weight")):
        return value[ffn]
    if name.endswith("down_proj.weight"):
        return value[:, ffn]
    if name.endswith("o_proj.weight"):
        return value[:, groups["q"]]
    key = name.rsplit(".", 2)[-2][0]  # q, k or v
    return value[groups[key]] if key in groups else value


def build_permuted(source: Path, target: Path, config: dict, seed: int = 1) -> Path:
    """B: the shards of ``source`` rewritten with every tensor permuted (one at a time)."""
    rng = np.random.default_rng(seed)
    h, f, heads, kv = 2048, config["intermediate_size"], 16, config["num_key_value_heads"]
    hd, per = h // heads, heads // kv
    perms: dict = {"stream": rng.permutation(h), "ffn": [], "groups": []}
    for _ in range(config["num_hidden_layers"]):
        perms["ffn"].append(rng.permutation(f))
        g = rng.permutation(kv)
        q = np.concatenate([np.arange(k * per * hd, (k + 1) * per * hd) for k in g])
        k_rows = np.concatenate([np.arange(k * hd, (k + 1) * hd) for k in g])
        perms["groups"].append({"q": q, "k": k_rows, "v": k_rows})
    index = json.loads((source / "model.safetensors.index.json").read_text())
    for shard in sorted(set(index["weight_map"].values())):
        out = {}
        with safe_open(str(source / shard), framework="numpy") as f:
            for name in f.keys():
                out[name] = np.ascontiguousarray(_permuted(name, f.get_tensor(name), perms))
        save_file(out, str(target / shard))
        del out
    (target / "model.safetensors.index.json").write_text(json.dumps(index))
    (target / "config.json").write_text(json.dumps(config))
    return target / "model.safetensors.index.json"


def main() -> None:
    context = _record.start()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25, help="fraction of the 18 layers")
    args = parser.parse_args()
    config = _config(args.scale)
    with tempfile.TemporaryDirectory(prefix="symcheck-bench-diff-") as tmp:
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        a.mkdir()
        b.mkdir()
        index_a, nbytes = build(a, config)
        index_b = build_permuted(a, b, config)
        diff = _child(_DIFF, str(index_a), str(index_b))
        floor = _child(_FLOOR, str(index_a), str(index_b))
    diff_time, diff_cpu, summary = diff["wall_s"], diff["cpu_s"], diff["output"]
    floor_time, floor_cpu, rss = floor["wall_s"], floor["cpu_s"], diff["peak_rss_bytes"]
    verdict, sweeps, before, after = summary.split()
    rows = [
        ("checkpoints", f"2 x {nbytes / 1e9:.2f} GB float16, {config['num_hidden_layers']} layers"),
        ("verdict, sweeps", f"{verdict}, {sweeps}"),
        ("distance before, after", f"{before}, {after}"),
        ("floor: read + sum A and B (s)", f"{floor_time:.2f}"),
        ("diff (s)", f"{diff_time:.2f}"),
        ("CPU s: floor, diff", f"{floor_cpu:.2f}, {diff_cpu:.2f}"),
        ("diff peak RSS (MB)", f"{rss / 1e6:.0f}"),
        ("load average", " ".join(f"{x:.1f}" for x in os.getloadavg())),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    figures = {
        "checkpoint_bytes": nbytes,
        "layers": config["num_hidden_layers"],
        "verdict": verdict,
        "sweeps": int(sweeps),
        "floor_s": floor_time,
        "diff_s": diff_time,
        "floor_cpu_s": floor_cpu,
        "diff_cpu_s": diff_cpu,
        "diff_peak_rss_bytes": rss,
    }
    _record.write("diff", context, figures)


if __name__ == "__main__":
    sys.exit(main())
