"""The bench figures quoted in README.md and docs/ are rendered from bench/results/*.json.

A marked section (``<!-- bench:NAME -->`` ... ``<!-- /bench:NAME -->``) that
differs from what ``bench/report.py`` renders from the results files is stale;
the siblings show that an edited figure and a newer results file are both caught.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
report = importlib.util.module_from_spec(_spec)
sys.modules["bench_report"] = report
_spec.loader.exec_module(report)

RESULTS = report.load_results()


def test_every_marked_bench_section_matches_the_results_files() -> None:
    assert report.stale(ROOT, RESULTS) == [], "run: python bench/report.py --write"


def test_every_bench_script_has_a_results_file_with_its_machine() -> None:
    scripts = {"prove": "prove.py", "audit": "audit.py", "numeric": "bench_numeric.py"}
    scripts |= {"scale": "scale.py", "rounding": "rounding.py"}
    scripts |= {"prove_graph": "prove_graph.py", "audit_checkpoint": "audit_checkpoint.py"}
    scripts |= {"diff": "diff.py"}
    assert set(RESULTS) == set(scripts)
    for name, record in RESULTS.items():
        assert record["command"].startswith(f"python bench/{scripts[name]}")
        machine = record["machine"]
        assert machine["date"] and machine["cpu"] and machine["cores"] >= 1
        assert {"numpy", "sympy"} <= set(machine["versions"])
        assert len(machine["load_average"]) == 3


def test_the_readme_and_the_area_docs_carry_generated_sections() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- bench:summary -->" in readme
    found = {
        m["name"] for p in report.documents(ROOT) for m in report.SECTION.finditer(p.read_text())
    }
    assert {"summary", "prove", "numeric", "scale", "rounding"} <= found


def _one_section_document(tmp_path: Path, name: str, body: str) -> Path:
    (tmp_path / "docs").mkdir(parents=True)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n<!-- bench:{name} -->\n{body}\n<!-- /bench:{name} -->\n")
    return readme


def test_an_edited_figure_is_stale(tmp_path: Path) -> None:
    fresh = report.render("rounding", RESULTS)
    _one_section_document(tmp_path, "rounding", fresh)
    assert report.stale(tmp_path, RESULTS) == []
    _one_section_document(tmp_path / "edited", "rounding", fresh.replace("e-", "e+", 1))
    assert report.stale(tmp_path / "edited", RESULTS) == ["README.md"]


def test_a_newer_results_file_makes_the_section_stale(tmp_path: Path) -> None:
    _one_section_document(tmp_path, "numeric", report.render("numeric", RESULTS))
    newer = copy.deepcopy(RESULTS)
    newer["numeric"]["figures"]["rows"][0]["graph_ms"]["median"] *= 2
    newer["numeric"]["machine"]["date"] = "2099-01-01 00:00 UTC"
    assert report.stale(tmp_path, newer) == ["README.md"]


def test_a_results_file_round_trips_through_json(tmp_path: Path) -> None:
    for name, record in RESULTS.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(record))
    assert report.load_results(tmp_path) == RESULTS


def test_an_unknown_section_name_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown bench section"):
        report.render("nonsense", RESULTS)
