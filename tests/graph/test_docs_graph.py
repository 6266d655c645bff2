"""docs/graph.md is not stale: its op table, zoo defaults and shown output match the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from symcheck.cli import main
from symcheck.graph.ops import OPS
from symcheck.graph.zoo import ZOO

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_op_has_a_row_in_the_rule_table():
    rows = [line for line in TEXT.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([a-z_0-9]+)`", row.split("|")[1])}
    assert set(OPS) <= documented


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_model_lists_its_true_defaults(name):
    defaults = ",".join(f"{k}={v}" for k, v in ZOO[name].defaults.items())
    assert f"| `{name}` | `{defaults}` |" in TEXT


def _shown_runs(text):
    """(argv, line slice, shown lines) of every ``$ symcheck symmetries`` example."""
    runs = []
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if not line.startswith("$ symcheck symmetries") or "echo" in line:
            continue
        command, _, pipe = line[2:].partition(" | ")
        window = slice(None)
        if pipe:
            start, stop = map(int, re.fullmatch(r"sed -n (\d+),(\d+)p", pipe).groups())
            window = slice(start - 1, stop)
        shown = []
        for out in lines[k + 1 :]:
            if out.startswith(("$ ", "```")):
                break
            shown.append(out)
        runs.append((shlex.split(command)[1:], window, shown))
    return runs


@pytest.mark.parametrize("argv, window, shown", _shown_runs(TEXT) + _shown_runs(README))
def test_the_shown_output_is_what_the_command_prints(argv, window, shown, capsys):
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[window] == shown


def test_the_graph_file_example_is_a_valid_graph():
    import json

    from symcheck.graph.graphfile import graph_from_json

    block = TEXT.split("```json\n", 1)[1].split("```", 1)[0]
    graph = graph_from_json(json.loads(block))
    assert graph.shape("y") == (2, 2) and graph.loss.name == "mse"
