"""Render ``bench/results/*.json`` as Markdown tables into README.md and docs/*.md.

A document marks a generated section with ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``; NAME is a results file (``prove``, ``audit``,
``numeric``, ``scale``, ``rounding``, ``audit_checkpoint``) or ``summary`` (one row per benchmark,
for the README). Every section states the date, the machine and the load of
the run its figures come from.

    python bench/report.py            # print every rendering
    python bench/report.py --write    # rewrite the marked sections in place
    python bench/report.py --check    # exit 1 when a marked section is stale

``tests/test_bench_report.py`` runs the check, so a figure in the docs cannot
drift from the results files; rerun a script under ``bench/`` and
``--write`` to update them.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SECTION = re.compile(
    r"(?P<open><!-- bench:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- /bench:(?P=name) -->)",
    re.DOTALL,
)

Record = dict[str, Any]


def load_results(directory: Path = RESULTS) -> dict[str, Record]:
    """Every results file, by benchmark name."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


def provenance(record: Record) -> str:
    """One line: when, where and under which load the figures were measured."""
    m = record["machine"]
    versions = ", ".join(f"{name} {v}" for name, v in m["versions"].items())
    load = ", ".join(f"{x:g}" for x in m["load_average"])
    return (
        f"*`{record['command']}`, {m['date']}, {m['cpu']} ({m['cores']} cores), "
        f"Python {m['python']}, {versions}; load average {load} at the start.*"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _s(x: float | None) -> str:
    """Seconds, three significant digits, in ms below 1 s (``n/a`` when not measured)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def _ratio(a: float, b: float) -> str:
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:.2g}×"


def _prove_row(record: Record, network: str, path: str) -> Record:
    return next(
        r for r in record["figures"]["rows"] if r["network"] == network and r["path"] == path
    )


def render_prove(record: Record) -> str:
    columns = ("first", "new network", "new act+loss", "warm")
    rows = [
        [r["network"], r["path"], *(_s(r[c]) for c in columns)] for r in record["figures"]["rows"]
    ]
    table = _table(["network", "path", *columns], rows)
    small = "3-4-4-2 tanh zero"
    fast = _prove_row(record, small, "fast")
    plain = _prove_row(record, small, "plain, xreplace")
    subs = _prove_row(record, small, "plain, subs")
    speed = (
        f"Speed-up on 3-4-4-2, plain path with `xreplace` / fast path: "
        f"{_ratio(plain['first'], fast['first'])} first run, "
        f"{_ratio(plain['new network'], fast['new network'])} new network, "
        f"{_ratio(plain['warm'], fast['warm'])} warm, "
        f"{_ratio(plain['new network'], fast['new act+loss'])} new activation and loss; "
        f"with `subs`: {_ratio(subs['first'], fast['first'])} first run, "
        f"{_ratio(subs['new network'], fast['new network'])} new network."
    )
    return f"{table}\n\n{speed}\n\n{provenance(record)}"


#: The "after" paths of the lowering (``bench/prove.py``), each against the chain prover.
_AFTER = ("graph, structural", "graph, computational", "fast + cross-check")


def _lowering_row(rec: Record) -> list[str]:
    """The 32-64x5-10 σ tied proof before (chain prover) and after lowering to the graph."""
    network = "32-64x5-10 sigma tied"
    before = _prove_row(rec, network, "fast")["new network"]
    after = {path: _prove_row(rec, network, path)["new network"] for path in _AFTER}
    return [
        "same, tied init, before / after lowering `Network` to the graph (new network)",
        f"before, chain prover: {_s(before)}",
        "after: " + ", ".join(f"{path} {_s(t)}" for path, t in after.items()),
        ", ".join(f"{_ratio(t, before)}" for t in after.values())
        + " the chain prover's time (target ≤ 1.5×)",
        rec["machine"]["date"],
    ]


def _ms_range(r: Record, engine: str) -> str:
    """``median ms (min–max)`` of one engine's rounds."""
    t = r[f"{engine}_ms"]
    return f"{t['median']:.3g} ms ({t['min']:.3g}–{t['max']:.3g})"


def _ratio_range(ratio: Record) -> str:
    return f"{ratio['median']:.2f}× ({ratio['min']:.2f}–{ratio['max']:.2f})"


def render_numeric(record: Record) -> str:
    rows = [
        [
            f"{r['network']}",
            str(r["batch"]),
            r["measure"],
            _ms_range(r, "graph"),
            _ms_range(r, "numeric"),
            _ms_range(r, "torch"),
            _ratio_range(r["graph_over_torch"]),
            f"{r['max_abs_diff']:.1e}",
        ]
        for r in record["figures"]["rows"]
    ]
    header = ["network", "batch", "measure", "graph engine", "chain engine", "torch"]
    header += ["graph/torch", "max abs diff"]
    figures = record["figures"]
    note = (
        f"*Median over {figures['rounds']} rounds (each the median of "
        f"{figures['repeat']} calls, the contenders called in turn), the rounds' range in "
        "brackets; graph/torch is the ratio within each round. Adam: the graph engine's column is "
        "`step_inplace` on the parameter dict, the chain engine's the pure `step`.*"
    )
    ratios = _graph_over_chain(record)
    return f"{_table(header, rows)}\n\n{note}\n\n{ratios}\n\n{provenance(record)}"


def _graph_over_chain(record: Record) -> str:
    """Graph engine / chain engine, ratio of the medians, per measure and network."""
    parts = []
    for measure in ("forward", "forward+backward"):
        ratios = ", ".join(
            f"{r['network']} {_ratio(r['graph_ms']['median'], r['numeric_ms']['median'])}"
            for r in record["figures"]["rows"]
            if r["measure"] == measure
        )
        parts.append(f"{measure} {ratios}")
    return "Graph engine / chain engine (ratio of the medians): " + "; ".join(parts) + "."


def _auto_err(r: Record) -> float:
    """The error of ``rule="auto"``: Gauss–Hermite at q <= 1, composite above."""
    return r["hermite_err"] if r["q"] <= 1 else r["composite_err"]


def _auto_us(r: Record) -> float:
    return r["hermite_us"] if r["q"] <= 1 else r["composite_us"]


def _scale_ranges(rows: list[Record]) -> tuple[float, float, float, int]:
    """Speed-up of ``auto`` over Monte Carlo (min, max), least accuracy gain, exact rows."""
    speed = [r["monte_carlo_us"] / _auto_us(r) for r in rows]
    accuracy = [r["monte_carlo_err"] / _auto_err(r) for r in rows if _auto_err(r) > 0]
    exact = sum(1 for r in rows if _auto_err(r) == 0)
    return min(speed), max(speed), min(accuracy), exact


def render_scale(record: Record) -> str:
    figures = record["figures"]
    rows = [
        [
            r["moment"],
            f"{r['q']:g}",
            f"{r['hermite_err']:.1e}",
            f"{r['hermite_us']:.0f}",
            f"{r['composite_err']:.1e}",
            f"{r['composite_us']:.0f}",
            f"{r['monte_carlo_err']:.1e}",
            f"{r['monte_carlo_us']:.0f}",
        ]
        for r in figures["rows"]
    ]
    header = ["moment", "q", "Gauss–Hermite error", "µs", "composite error", "µs"]
    header += ["Monte Carlo (10⁶ draws) error", "µs"]
    slowest, fastest, accuracy, exact = _scale_ranges(figures["rows"])
    d = figures["diagnosis"]
    summary = (
        f'`rule="auto"` (Gauss–Hermite at q ≤ 1, composite above) is '
        f"{slowest:.2g}–{fastest:,.0f}× as fast as Monte Carlo in these rows and at "
        f"least {accuracy:.1e}× more accurate ({exact} rows exact to the last bit). "
        f"One scale diagnosis of {d['network']}: {d['seconds']:.2f} s (verdict {d['verdict']})."
    )
    return f"{_table(header, rows)}\n\n{summary}\n\n{provenance(record)}"


def render_rounding(record: Record) -> str:
    figures = record["figures"]
    steps = list(figures["rows"][0]["gaps"])
    rows = [
        [str(r["seed"]), r["kind"], *(f"{r['gaps'][s]:.1e}" for s in steps)]
        for r in figures["rows"]
    ]
    table = _table(["seed", "neurons", *(f"gap after {s} steps" for s in steps)], rows)
    return f"{table}\n\n{_rounding_summary(record)}\n\n{provenance(record)}"


def _rounding_summary(record: Record) -> str:
    figures = record["figures"]
    last = str(figures["steps"])
    lumped = [r["gaps"][last] for r in figures["rows"] if r["kind"] == "lumped"]
    tied = [r["gaps"][last] for r in figures["rows"] if r["kind"] == "tied"]
    return (
        f"{figures['network']}, {figures['optimizer']}, float64, {len(lumped)} seeds: after "
        f"{last} steps the lumped (not tied) neurons differ by {min(lumped):.1e} to "
        f"{max(lumped):.1e}; the exactly tied ones by at most {max(tied):.1e}."
    )


def render_audit(record: Record) -> str:
    figures = record["figures"]
    rows = [
        [
            r["file"],
            f"{r['parameters']:,}",
            f"{r['floor_s']:.3f} s",
            f"{r['audit_s']:.3f} s",
            f"{r['audit_s'] / r['floor_s']:.2f}×",
        ]
        for r in figures["rows"]
    ]
    table = _table(["weights", "parameters", "floor (load + sum)", "audit", "ratio"], rows)
    naive = figures["all_pairs_extrapolated_s"]
    text = (
        f"{figures['model']}, medians of {figures['repeat']} interleaved runs; target: "
        f"within {figures['target_ratio']:g}× of the floor. Comparing every pair of "
        f"neurons instead (extrapolated, zero weights): {naive:,.0f} s."
    )
    fresh = [
        [r["file"], *(_child(c) for c in r["children"])]
        for r in figures["rows"]
        if r.get("children")
    ]
    if fresh:
        names = [c["name"] for c in figures["rows"][0]["children"]]
        text += "\n\nOnce each, in a fresh process (wall time with imports, peak RSS):\n\n"
        text += _table(["weights", *names], fresh)
    return f"{table}\n\n{text}\n\n{provenance(record)}"


def render_audit_checkpoint(record: Record) -> str:
    f = record["figures"]
    rss = f"{f['audit_peak_rss_bytes'] / 1e6:,.0f} MB"
    rows = [
        [
            "floor: `safe_open` + `np.sum(dtype=float32)` per tensor",
            _s(f["floor_s"]),
            _s(f["floor_cpu_s"]),
            "",
        ],
        [f"`audit_checkpoint`, {f['jobs']} jobs", _s(f["audit_s"]), _s(f["audit_cpu_s"]), rss],
    ]
    cli = ""
    if "cli_s" in f:
        cli_rss = f"{f['cli_peak_rss_bytes'] / 1e6:,.0f} MB"
        command = f"`symcheck audit --format json --jobs {f['jobs']}`"
        rows.append([command, _s(f["cli_s"]), "", cli_rss])
        cli = f" The command line: {f['cli_ratio']:.2f}× the floor."
    table = _table(["", "wall", "CPU (all threads)", "peak RSS"], rows)
    text = (
        f"{f['checkpoint_bytes'] / 1e9:.2f} GB of float16 in 4 shards and an index; medians of "
        f"{f['repeats']} interleaved rounds, each run in a fresh process (interpreter start and "
        f"imports included). Audit / floor: "
        f"**{f['ratio']:.2f}× wall** (median of the pairs' ratios; target ≤ "
        f"{f['time_target']:g}×), {f['audit_cpu_s'] / f['floor_cpu_s']:.2f}× CPU; peak RSS "
        f"{rss} (target < {f['rss_target_bytes'] / 1e6:,.0f} MB).{cli}"
    )
    return f"{table}\n\n{text}\n\n{provenance(record)}"


def _child(child: dict[str, Any]) -> str:
    """One contender run in a fresh process by bench/audit.py: time and peak RSS, or why not."""
    if "error" in child:
        return f"no result: {child['error']}"
    return f"{_s(child['wall_s'])}, {child['peak_rss_bytes'] / 1e6:,.0f} MB"


def render_summary(results: dict[str, Record]) -> str:
    """One row per benchmark, each with the date of its run (for the README)."""
    rows = []
    if "prove" in results:
        rec = results["prove"]
        fast = _prove_row(rec, "3-4-4-2 tanh zero", "fast")
        plain = _prove_row(rec, "3-4-4-2 tanh zero", "plain, xreplace")
        rows.append(
            [
                "`bench/prove.py`: identical-updates proof, 3-4-4-2 tanh, zero init, new network",
                f"whole-loss `sympy.diff`: {_s(plain['new network'])}",
                f"layered reverse mode (alone): {_s(fast['new network'])}",
                f"**{_ratio(plain['new network'], fast['new network'])}**",
                rec["machine"]["date"],
            ]
        )
        zero = _prove_row(rec, "32-64x5-10 sigma zero", "fast")
        tied = _prove_row(rec, "32-64x5-10 sigma tied", "fast")
        rows.append(
            [
                "same, 32-64-64-64-64-64-10 with σ",
                "not feasible",
                f"zero init {_s(zero['new network'])}, tied {_s(tied['new network'])}",
                "target < 1 s",
                rec["machine"]["date"],
            ]
        )
        rows.append(_lowering_row(rec))
    if "audit" in results:
        rec = results["audit"]
        for r in rec["figures"]["rows"]:
            rows.append(
                [
                    f"`bench/audit.py`: {r['parameters']:,}-parameter safetensors MLP, "
                    f"{r['file']} weights",
                    f"load + sum: {r['floor_s']:.3f} s",
                    f"audit: {r['audit_s']:.3f} s",
                    f"{r['audit_s'] / r['floor_s']:.2f}× the floor (target ≤ 3×)",
                    rec["machine"]["date"],
                ]
            )
            peer = {c["name"]: c for c in r.get("children", ())}
            if {"floor", "symcheck", "weightwatcher"} <= set(peer):
                rows.append(
                    [
                        f"same, {r['file']} weights, each once in a fresh process (time with "
                        "imports, peak RSS): the peer, WeightWatcher `analyze()`",
                        f"load + sum: {_child(peer['floor'])}",
                        f"audit: {_child(peer['symcheck'])}",
                        f"WeightWatcher: {_child(peer['weightwatcher'])}",
                        rec["machine"]["date"],
                    ]
                )
    if "prove_graph" in results:
        rec = results["prove_graph"]
        fig = rec["figures"]
        structural = ", ".join(
            f"{r['theorem']} {r['verdict']} {_s(r['cold_s'])} (first run)"
            for r in fig["structural"]
        )
        computational = ", ".join(
            f"{r['init']} init {r['verdict']} {_s(r['median_s'])}" for r in fig["computational"]
        )
        rows.append(
            [
                f"`bench/prove_graph.py`: structural proof, `{fig['large']}`",
                "a computational proof is not feasible at this size",
                structural,
                "target < 5 s",
                rec["machine"]["date"],
            ]
        )
        rows.append(
            [
                f"same, computational proof, `{fig['small']}`",
                "—",
                computational,
                "target < 30 s",
                rec["machine"]["date"],
            ]
        )
    if "audit_checkpoint" in results:
        rec = results["audit_checkpoint"]
        fig = rec["figures"]
        rows.append(
            [
                f"`bench/audit_checkpoint.py`: {fig['checkpoint_bytes'] / 1e9:.2f} GB float16 "
                f"Llama-style checkpoint, 4 shards + index, {fig['jobs']} jobs",
                f"read + sum: {_s(fig['floor_s'])}",
                f"audit: {_s(fig['audit_s'])}, peak RSS "
                f"{fig['audit_peak_rss_bytes'] / 1e6:,.0f} MB",
                f"{fig['ratio']:.2f}× the floor, median of {fig['repeats']} interleaved pairs "
                f"(target ≤ {fig['time_target']:g}×)"
                + (f", `symcheck audit` {fig['cli_ratio']:.2f}×" if "cli_ratio" in fig else "")
                + "; RSS target "
                f"< {fig['rss_target_bytes'] / 1e6:,.0f} MB",
                rec["machine"]["date"],
            ]
        )
    if "diff" in results:
        rec = results["diff"]
        fig = rec["figures"]
        rows.append(
            [
                f"`bench/diff.py`: `symcheck.checkpoint.diff` of two "
                f"{fig['checkpoint_bytes'] / 1e9:.2f} GB float16 Llama-style checkpoints "
                f"({fig['layers']} layer), B a permuted copy of A",
                f"read + sum A and B: {_s(fig['floor_s'])}",
                f"diff: {_s(fig['diff_s'])}, peak RSS {fig['diff_peak_rss_bytes'] / 1e6:,.0f} MB",
                f"{fig['diff_s'] / fig['floor_s']:.1f}× the floor (no `jobs`: serial but for "
                "BLAS), no target; "
                f"verdict `{fig['verdict']}` after {fig['sweeps']} sweeps",
                rec["machine"]["date"],
            ]
        )
    if "numeric" in results:
        rec = results["numeric"]
        rs = rec["figures"]["rows"]
        big = [r for r in rs if r["network"] == rs[-1]["network"]]
        rows.append(
            [
                f"`bench/bench_numeric.py`: graph engine, {big[0]['network']}, batch "
                f"{big[0]['batch']}, float64, 1 thread: " + ", ".join(r["measure"] for r in big),
                "torch: " + ", ".join(f"{r['torch_ms']['median']:.3g} ms" for r in big),
                ", ".join(f"{r['graph_ms']['median']:.3g} ms" for r in big),
                ", ".join(_ratio_range(r["graph_over_torch"]) for r in big)
                + " torch's time, median (range) of the rounds' ratios (target ≤ 1.5×)",
                rec["machine"]["date"],
            ]
        )
    if "scale" in results:
        rec = results["scale"]
        rs = rec["figures"]["rows"]
        slowest, fastest, accuracy, _ = _scale_ranges(rs)
        rows.append(
            [
                "`bench/scale.py`: Gaussian moments",
                "10⁶-draw Monte Carlo",
                "quadrature",
                f"≥ {accuracy:.1e}× more accurate, {slowest:.2g}–{fastest:,.0f}× as fast",
                rec["machine"]["date"],
            ]
        )
    if "rounding" in results:
        rec = results["rounding"]
        rows.append(
            [
                "`bench/rounding.py`: lumped vs tied neurons, float64 SGD",
                "exactly tied neurons",
                "lumped (not tied) neurons",
                _rounding_summary(rec),
                rec["machine"]["date"],
            ]
        )
    table = _table(["benchmark", "baseline", "symcheck", "figure", "measured"], rows)
    machines = sorted(
        {f"{r['machine']['cpu']} ({r['machine']['cores']} cores)" for r in results.values()}
    )
    loads = ", ".join(
        f"{name} {r['machine']['load_average'][0]:g}" for name, r in sorted(results.items())
    )
    return (
        f"{table}\n\n*Machine: {'; '.join(machines)}. Load average (1 min) at the start of "
        f"each run: {loads}. Details, versions and commands: `bench/results/*.json`.*"
    )


RENDERERS: dict[str, Callable[[Record], str]] = {
    "prove": render_prove,
    "numeric": render_numeric,
    "scale": render_scale,
    "rounding": render_rounding,
    "audit": render_audit,
    "audit_checkpoint": render_audit_checkpoint,
}


def render(name: str, results: dict[str, Record]) -> str:
    """The Markdown of section ``name`` from ``results``."""
    if name == "summary":
        return render_summary(results)
    if name not in RENDERERS:
        raise KeyError(f"unknown bench section {name!r}; known: {['summary', *RENDERERS]}")
    if name not in results:
        raise KeyError(f"no results for {name!r}: run bench/ scripts to write bench/results/")
    return RENDERERS[name](results[name])


def update(text: str, results: dict[str, Record]) -> str:
    """``text`` with every marked section replaced by its rendering."""

    def replace(match: re.Match[str]) -> str:
        body = render(match["name"], results)
        return f"{match['open']}{body}\n{match['close']}"

    return SECTION.sub(replace, text)


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def stale(root: Path = ROOT, results: dict[str, Record] | None = None) -> list[str]:
    """Documents whose marked sections differ from what the results render."""
    results = load_results() if results is None else results
    out = []
    for path in documents(root):
        text = path.read_text(encoding="utf-8")
        if update(text, results) != text:
            out.append(path.relative_to(root).as_posix())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the marked sections")
    mode.add_argument("--check", action="store_true", help="exit 1 when a section is stale")
    args = parser.parse_args(argv)
    results = load_results()
    if args.check:
        bad = stale(results=results)
        for name in bad:
            print(f"stale bench figures in {name}: run python bench/report.py --write")
        return 1 if bad else 0
    if args.write:
        for path in documents():
            text = path.read_text(encoding="utf-8")
            new = update(text, results)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(f"updated {path.relative_to(ROOT)}")
        return 0
    for name in ["summary", *RENDERERS]:
        if name == "summary" or name in results:
            print(f"<!-- bench:{name} -->\n{render(name, results)}\n<!-- /bench:{name} -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
