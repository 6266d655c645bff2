"""Benchmark: ``audit_checkpoint`` on a ~2 GB float16 sharded checkpoint against the floor.

Builds a Llama-style checkpoint (hidden 2048, 16 query / 4 KV heads, FFN
5632, 18 layers, vocabulary 32000: 0.94 G parameters, 1.9 GB of float16)
in four shards with a ``model.safetensors.index.json`` and a
``config.json``, in a temporary directory deleted afterwards, then measures
in one run, each in a fresh child process:

* audit: ``symcheck.checkpoint.audit_checkpoint`` on the index (every unit
  space: FFN neurons, KV groups, query heads per group, value-output dims,
  residual stream), wall time and peak RSS (the child's own, measured by
  ``bench/_child.py``; the largest over the runs);
* the same audit through the command line, ``symcheck audit INDEX --format
  json --jobs N`` (as ``symcheck.cli.main``; the JSON goes to a file);
* floor: read every tensor with ``safetensors.safe_open`` and sum it in
  float32 (wall time).

The three alternate (floor, audit, command line, floor, ...) ``--repeats``
times (default 5) after one unmeasured warm-up round, and the medians are
reported, so that a change of load on a shared machine hits all alike. CPU
seconds of the children are printed too: the wall times depend on the load,
the CPU times much less. Every wall time includes starting the interpreter
and the imports.

Targets: peak RSS < 1 GB, audit time <= 2x the floor. The files are freshly
written, so both read from the page cache. Run from the repository root:
``PYTHONPATH=. python bench/audit_checkpoint.py`` (``--scale 0.25`` for a
quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _record  # bench/ is the script's directory, hence on the path
import numpy as np
from _child import measure
from safetensors.numpy import save_file

RSS_TARGET = 1 << 30
TIME_TARGET = 2.0

_AUDIT = """
import sys
from symcheck.checkpoint import audit_checkpoint
report = audit_checkpoint(sys.argv[1], jobs=int(sys.argv[2]))
print(len(report.spaces), sum(s.verdict != "full" for s in report.spaces))
"""

_CLI = """
import sys
from symcheck.cli import main
code = main(["audit", sys.argv[1], "--format", "json", "--jobs", sys.argv[2]])
print("exit", code)
sys.exit(code not in (0, 1))  # 1: ties or dead units found, a result too
"""

_FLOOR = """
import sys, json, os
import numpy as np
from safetensors import safe_open
folder = os.path.dirname(sys.argv[1])
shards = sorted(set(json.load(open(sys.argv[1]))["weight_map"].values()))
total = 0.0
for shard in shards:
    with safe_open(os.path.join(folder, shard), framework="numpy") as f:
        for name in f.keys():
            total += float(np.sum(f.get_tensor(name), dtype=np.float32))
print(total)
"""


def _config(scale: float) -> dict:
    layers = max(1, round(18 * scale))
    return {
        "model_type": "llama",
        "hidden_size": 2048,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "num_hidden_layers": layers,
        "intermediate_size": 5632,
        "vocab_size": 32000,
    }


def _shapes(c: dict) -> dict[str, tuple[int, int]]:
    h, f, hd = c["hidden_size"], c["intermediate_size"], 128
    kv = c["num_key_value_heads"] * hd
    s = {
        "model.embed_tokens.weight": (c["vocab_size"], h),
        "lm_head.weight": (c["vocab_size"], h),
        "model.norm.weight": (h,),
    }
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        s |= {
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (h, h),
            p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h),
            p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (f, h),
            p + "mlp.up_proj.weight": (f, h),
            p + "mlp.down_proj.weight": (h, f),
        }
    return s


def build(folder: Path, config: dict, shards: int = 4) -> tuple[Path, int]:
    rng = np.random.default_rng(0)
    shapes = _shapes(config)
    names = list(shapes)
    weight_map: dict[str, str] = {}
    nbytes = 0
    per = -(-len(names) // shards)
    for k in range(shards):
        shard = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        chunk = {}
        for name in names[k * per : (k + 1) * per]:
            shape = shapes[name]
            scale = np.float32(1 / np.sqrt(shape[-1]))
            chunk[name] = (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float16)
            nbytes += chunk[name].nbytes
            weight_map[name] = shard
        save_file(chunk, str(folder / shard))
        del chunk
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": nbytes}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(config))
    return index, nbytes


def _child(code: str, *args: str, timeout: float = 1800.0) -> dict[str, Any]:
    """Wall time, CPU time (all threads), own peak RSS and last output line of a fresh
    interpreter (``bench/_child.py``); a failed child stops the bench."""
    out = measure(code, *args, timeout=timeout)
    if "error" in out:
        raise SystemExit(f"bench child failed: {out['error']}")
    return out


def main() -> None:
    context = _record.start()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 18 layers")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5, help="measured floor/audit pairs")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "audit": [], "cli": []}
    with tempfile.TemporaryDirectory(prefix="symcheck-bench-") as tmp:
        index, nbytes = build(Path(tmp), _config(args.scale))
        for repeat in range(args.repeats + 1):  # the first round warms up, unmeasured
            round_ = {
                "floor": _child(_FLOOR, str(index)),
                "audit": _child(_AUDIT, str(index), str(args.jobs)),
                "cli": _child(_CLI, str(index), str(args.jobs)),
            }
            if repeat:
                for name, out in round_.items():
                    runs[name].append(out)
    summary = runs["audit"][-1]["output"]

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    def ratios(name: str) -> list[float]:
        return [a["wall_s"] / f["wall_s"] for a, f in zip(runs[name], runs["floor"])]

    floor_time, floor_cpu = median("floor", "wall_s"), median("floor", "cpu_s")
    audit_time, audit_cpu = median("audit", "wall_s"), median("audit", "cpu_s")
    cli_time = median("cli", "wall_s")
    ratio, cli_ratio = statistics.median(ratios("audit")), statistics.median(ratios("cli"))
    rss = max(r["peak_rss_bytes"] for r in runs["audit"])
    cli_rss = max(r["peak_rss_bytes"] for r in runs["cli"])
    rows = [
        ("checkpoint", f"{nbytes / 1e9:.2f} GB float16, 4 shards + index"),
        ("unit spaces (non-full)", summary),
        ("floor: read + sum (s, median)", f"{floor_time:.2f}"),
        ("audit (s, median)", f"{audit_time:.2f}"),
        ("audit / floor (median of pairs)", f"{ratio:.2f}  (target <= {TIME_TARGET})"),
        ("ratios of the pairs", " ".join(f"{r:.2f}" for r in ratios("audit"))),
        ("symcheck audit CLI (s, median)", f"{cli_time:.2f}"),
        ("CLI / floor (median of pairs)", f"{cli_ratio:.2f}"),
        ("CPU s: floor, audit (all threads)", f"{floor_cpu:.2f}, {audit_cpu:.2f}"),
        (
            "peak RSS (MB): audit, CLI",
            f"{rss / 1e6:.0f}, {cli_rss / 1e6:.0f}  (target < {RSS_TARGET / 1e6:.0f})",
        ),
        ("jobs", str(args.jobs)),
        ("load average", " ".join(f"{x:.1f}" for x in os.getloadavg())),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    figures = {
        "checkpoint_bytes": nbytes,
        "floor_s": floor_time,
        "audit_s": audit_time,
        "ratio": ratio,
        "audit_peak_rss_bytes": rss,
        "cli_s": cli_time,
        "cli_ratio": cli_ratio,
        "cli_peak_rss_bytes": cli_rss,
        "ratios": ratios("audit"),
        "floor_cpu_s": floor_cpu,
        "audit_cpu_s": audit_cpu,
        "repeats": args.repeats,
        "jobs": args.jobs,
        "time_target": TIME_TARGET,
        "rss_target_bytes": RSS_TARGET,
    }
    _record.write("audit_checkpoint", context, figures)


if __name__ == "__main__":
    main()
