"""The bad-input contract, one table per subcommand: exit code, one stderr line, its words.

Each row is ``(argv, exit code, fragment of the single stderr line)``; the run
must also keep the whole contract of :func:`symcheck.cli.contract.violations`
(no traceback, one capped line, only real options, bounded time and memory).
Paths are spelt ``{fifo}``, ``{dir}``, ``{deep}``, ... and filled from a
temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.cli import build_parser
from symcheck.cli.contract import option_names, run_guarded, violations

LONG = "x" * 100_000
DEEP_NET = "-".join(["2"] * 20 + ["1"])
RANDOM_NET = "-".join(["2"] * 11 + ["1"])
LUMPING_DEEP = "-".join(["1"] * 3002)
CERT_RECIPE = {
    "theorem": "identical_updates",
    "network": {
        "widths": [2, 2, 1],
        "activations": ["tanh"],
        "loss": "mse",
        "bias": True,
        "reduction": "mean",
    },
    "init": "zero",
    "value": None,
    "batch": 1_000_000_000,
}
GRAPH_RECIPE = {
    "theorem": "identical_updates",
    "model": "mlp",
    "init": "zero",
    "value": None,
    "seed": 0,
    "optimizer": None,
    "kind": "auto",
}
GRAPH_CERTS = {
    "graph_model": {"model": "nosuch:width=3"},
    "graph_seed": {"seed": -1},
    "graph_kind": {"kind": "guess"},
    "graph_keys": {"batch": 1},
    "graph_fifo": {"model": "{fifo}"},
}

TABLES: dict[str, list[tuple[list[str], int, str]]] = {
    "prove": [
        (["prove", "2-2-1", "--batch", "100000000"], 2, "exceeds the symbolic limit of 8"),
        (["prove", "2-2-1", "--batch", "0"], 2, "batch=0 must be a positive int"),
        (["prove", "2-2-1", "--batch", "-1"], 2, "batch=-1 must be a positive int"),
        (["prove", DEEP_NET, "--init", "tied"], 2, "estimated cost 524288, beyond the limit"),
        (["prove", RANDOM_NET, "--init", "random"], 2, "estimated cost"),
        (["prove", "2-2-2-2-2-2-1", "--init", "random", "--timeout", "0.05"], 2, "unknown"),
        (["prove", "2-2-1", "--optimizer", ""], 2, "optimizer='' is not supported"),
        (["prove", "2-2-1", "--init", "constant", "--value", "nan"], 2, "non-finite number"),
        (["prove", "2-2-1", "--activation", "leaky_relu(-1)"], 2, "0 <= slope < 1"),
        (["prove", f"2-{LONG}-1"], 2, "is not known; use a chain spec like 3-4-4-2"),
        (["prove", "moe:d_model=2", "--activation", "relu"], 2, "describe a chain spec"),
        (["prove", "moe:d_model=2", "--seed", "-1", "--init", "random"], 2, "not a non-negative"),
        (["prove", "2-2-1", "--seed", "3"], 2, "--seed=3 applies to zoo models"),
        (["prove", "2-2-1", "--seed", "0", "--init", "random"], 2, "--seed=0 applies to zoo"),
        (["prove", "2-2-1", "--kind", "both"], 2, "applies to zoo models and graph files"),
        (["prove", "2-2-1", "--timeout", "-1"], 2, "must be seconds in [0, 1e9)"),
        (["prove", "2-2-1", "--format", "yaml"], 2, "invalid choice: 'yaml'"),
        (["prove", "2-2-1", "--breaks", "--batch", "99"], 2, "exceeds the symbolic limit"),
    ],
    "derive": [
        (["derive", "2-8-8-8-8-8-8-1"], 2, "beyond the derive limit"),
        (["derive", "2-2-1", "--init", "constant", "--value", "inf"], 2, "non-finite number"),
        (["derive", "2-2-1", "--activation", "tanhh"], 2, "activation='tanhh' is not supported"),
        (["derive", f"{LONG}"], 2, "is not known; use a chain spec"),
        (["derive", "mlp:layers=1500"], 2, "3001 nodes, beyond the derive limit of 2000"),
        (["derive", "mlp", "--activation", "relu"], 2, "--activation describe a chain spec"),
        (["derive", "2-2-1", "--seed", "1"], 2, "--seed=1 applies to zoo models"),
        (["derive", "mlp", "--seed", "-1"], 2, "is not a non-negative integer"),
        (["derive", "moe", "--init", "constant", "--value", "nan"], 2, "non-finite"),
        (["derive", "{deep}"], 2, "nests deeper than"),
        (["derive", "transformer:d_model=512,heads=8,layers=6", "--timeout", "0.05"], 2, "unknown"),
    ],
    "example": [
        (["example", "--format", "yaml"], 2, "invalid choice: 'yaml'"),
        (["example", "--timeout", "nan"], 2, "must be seconds"),
    ],
    "check": [
        (["check", "{fifo}"], 2, "is a FIFO (named pipe), not a regular file"),
        (["check", "{dir}"], 2, "is a directory, not a regular file"),
        (["check", "/dev/zero"], 2, "is a character device"),
        (["check", "{missing}"], 2, "cannot be read: No such file or directory"),
        (["check", ""], 2, "must be a non-empty file path"),
        (["check", "{deep}"], 2, "nests 100000 levels deep, beyond the limit of 64"),
        (["check", "{digits}"], 2, "a number has 5000 digits, beyond the limit"),
        (["check", "{nan}"], 2, "NaN is not valid JSON"),
        (["check", "{batch}"], 2, "batch=1000000000 exceeds the symbolic limit"),
        (["check", "{text}"], 2, "is not valid JSON"),
        (["check", "{graph_model}"], 2, "model 'nosuch:width=3' is not known"),
        (["check", "{graph_seed}"], 2, "recipe.seed=-1 must be an int from 0 to"),
        (["check", "{graph_kind}"], 2, "recipe.kind='guess' must be one of"),
        (["check", "{graph_keys}"], 2, "graph recipe has exactly the keys"),
        (["check", "{graph_fifo}"], 2, "does not exist or is not a file"),
    ],
    "scale": [
        (["scale", "2-1000000-1", "--init", "he_normal"], 2, "floats per pass, beyond the limit"),
        (["scale", "2-2-1", "--init", "he_normal", "--samples", "1000000000"], 2, "exceeds the"),
        (["scale", "2-2-1", "--init", "he_normal", "--samples", "0"], 2, "not a positive integer"),
        (["scale", "2-2-1", "--init", "he_normal", "--seed", "-1"], 2, "not a non-negative"),
        (["scale", "2-2-1", "--init", "he_normal", "--plot", "{dir}"], 2, "is a directory"),
        (["scale", "2-2-1", "--init", "he_normal", "--plot", "/dev/full"], 2, "character device"),
        (["scale", "2-2-1", "--init", "he_normal", "--std", "nan"], 2, "must be a finite number"),
        (["scale", "2-2-1", "--init", "bogus"], 2, "is not supported"),
        (["scale", "1000000-2000-1", "--init", "he_normal"], 2, "parameters, beyond the limit"),
    ],
    "derive-init": [
        (["derive-init", "--catalogue", "--write", "{dir}"], 2, "--write='"),
        (["derive-init", "--catalogue", "--write", ""], 2, "must be a non-empty file path"),
        (["derive-init", "--write", "x.md"], 2, "--write goes with --catalogue"),
        (["derive-init", "--preset", "classic_normal"], 2, "--preset needs --width N"),
        (["derive-init", "--activation", "leaky_relu(-1)"], 2, "0 <= slope < 1"),
        (["derive-init", "--glorot", "--fan-in", "-3", "--fan-out", "2"], 2, "positive int"),
    ],
    "plot": [
        (["plot", "trajectories", "2-100000-1", "--steps", "5", "--out", "t.png"], 2, "lines"),
        (["plot", "trajectories", "2-2-1", "--seed", "-1", "--out", "t.png"], 2, "non-negative"),
        (["plot", "trajectories", "2-2-1", "--out", "{dir}"], 2, "is a directory"),
        (["plot", "trajectories", "2-2-1", "--out", ""], 2, "must be a non-empty file path"),
        (["plot", "trajectories", "2-2-1", "--out", "/dev/full"], 2, "is a character device"),
        (["plot", "trajectories", "2-2-1", "--out", "{noext}"], 2, "has no image suffix"),
        (["plot", "trajectories", "2-2-1", "--optimizer", "", "--out", "t.png"], 2, "optimizer=''"),
        (["plot", "trajectories", "2-2-1", "--steps", "1000000", "--out", "t.png"], 2, "beyond"),
        (["plot", "trajectories", "2-2-1", "--layer", "5", "--out", "t.png"], 2, "layer=5 is not"),
        (["plot", "trajectories", "2-2-1", "--lr", "nan", "--out", "t.png"], 2, "finite number"),
        (["plot", "trajectories", "2-2-1"], 2, "required: --out"),
        (["plot"], 2, "no command given"),
    ],
    "lumping": [
        (["lumping", LUMPING_DEEP], 2, "3000 hidden layers, beyond the lumping limit of 12"),
        (["lumping", "1-3-3-1", "--partition", "a;b"], 2, "is not a partition"),
        (["lumping", "1-3-3-1", "--optimizer", ""], 2, "invalid choice: ''"),
        (["lumping", "1-3-3-3-3-3-3-1"], 2, "estimated cost"),
    ],
    "symmetries": [
        (["symmetries", "{fifo}"], 2, "is not known"),
        (["symmetries", "{deep}"], 2, "nests deeper than"),
        (["symmetries", "{digits}"], 2, "holds a number of thousands of digits"),
        (["symmetries", "x" * 5000 + ".json"], 2, "cannot be read: File name too long"),
        (["symmetries", LONG], 2, "is not known"),
        (["symmetries", "2-1000000-1"], 2, "every width must be 1 to 4096"),
        (["symmetries", "transformer:layers=100000000"], 2, "must be an integer from 1 to"),
        (["symmetries", ""], 2, "is empty"),
    ],
    "prove-graph": [
        (["prove-graph", "foo:x=1"], 2, "is not known"),
        (["prove-graph", "{fifo}"], 2, "is not known"),
        (["prove-graph", "mlp", "--init", "guess"], 2, "invalid choice: 'guess'"),
        (["prove-graph", "mlp", "--init", "constant", "--value", "nan"], 2, "non-finite"),
        (["prove-graph", "mlp", "--init", "random", "--seed", "-1"], 2, "not a non-negative"),
        (["prove-graph", "mlp", "--value", "1/2"], 2, "only init='constant' takes a value"),
        (["prove-graph", "transformer:d_model=4096,layers=4096"], 2, "init points hold at most"),
        (["prove-graph", "mlp", "--kind", "guess"], 2, "invalid choice: 'guess'"),
    ],
    "ties": [
        (["ties", "transformer:heads=3"], 2, "must be a multiple of heads=3"),
        (["ties", "mlp:layers=100000"], 2, "must be an integer from 1 to"),
        (["ties", "mlp", "--init", "constant", "--value", "inf"], 2, "non-finite"),
        (["ties", "mlp", "--init", "random", "--seed", "x"], 2, "is not an integer"),
        (["ties", "{deep}"], 2, "nests deeper than"),
    ],
    "torch-survival": [
        (["torch-survival", LONG], 2, "is not of the form module.path:callable"),
        (["torch-survival", "os:getcwd"], 2, "returned str; return (model, example_inputs)"),
        (["torch-survival", "no_such_mod:f"], 2, "cannot import 'no_such_mod'"),
        (["torch-survival", "a:b", "--steps", "1000000"], 2, "exceeds the limit of 100000"),
        (["torch-survival", "a:b", "--optimizer", "lbfgs"], 2, "invalid choice: 'lbfgs'"),
    ],
    "audit": [
        (["audit"], 2, "the following arguments are required: SOURCE"),
        (["audit", "{fifo}", "{fifo}"], 2, "is not supported; use one of"),
        (["audit", "w.npz", "--jobs", "0"], 2, "is not a positive integer"),
        (["audit", "w.npz", "--tolerance", "-1"], 2, "must be a finite number >= 0"),
        (["audit", "w.npz", "--format", "yaml"], 2, "invalid choice: 'yaml'"),
        (["audit", "w.npz", "--no-such-option"], 2, "unrecognized arguments"),
    ],
    "diff": [
        (["diff"], 2, "the following arguments are required: A, B"),
        (["diff", "{ckpt}"], 2, "the following arguments are required: B"),
        (["diff", "{fifo}", "{fifo}"], 2, "is not supported; use one of"),
        (["diff", "{ckpt}", "{missing}"], 2, "extension='.json' is not supported"),
        (["diff", "{ckpt}", "{ckpt_renamed}"], 2, "tensor 'fc1.weight' is in A but not in B"),
        (["diff", "{ckpt}", "{ckpt}", "--model", "mlp"], 2, "is not a parameter of the model"),
        (["diff", "{ckpt}", "{ckpt}", "--model", "mlp:layers=100000"], 2, "must be an integer"),
        (["diff", "{ckpt}", "{ckpt}", "--model", "mlp", "--config", "{text}"], 2, "either"),
        (["diff", "{ckpt}", "{ckpt}", "--config", "{text}"], 2, "not a valid JSON config"),
        (["diff", "{ckpt}", "{ckpt}", "--tolerance", "nan"], 2, "must be a finite number >= 0"),
        (["diff", "{ckpt}", "{ckpt}", "--seed", "-1"], 2, "is not a non-negative integer"),
        (["diff", "{ckpt}", "{ckpt}", "--format", "yaml"], 2, "invalid choice: 'yaml'"),
        (["diff", "{ckpt}", "{ckpt}", "--max-bytes", "10"], 2, "is not a regular file of at most"),
    ],
}

ROWS = [(command, *row) for command, rows in TABLES.items() for row in rows]


def _commands(parser) -> set[str]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("contract")
    os.mkfifo(root / "fifo")
    (root / "deep.json").write_text("[" * 100_000)
    (root / "digits.json").write_text('{"schema": 1, "proofs": ' + "9" * 5000 + "}")
    (root / "nan.json").write_text('{"a": NaN}')
    recipe = {"facts": {"recipe": CERT_RECIPE}}
    (root / "batch.json").write_text(json.dumps({"schema": 1, "proofs": [recipe]}))
    (root / "text.json").write_text("not json at all")
    weight = np.zeros((2, 2), dtype=np.float32)
    save_file({"fc0.weight": weight, "fc1.weight": weight}, str(root / "ckpt.safetensors"))
    save_file({"fc0.weight": weight, "fc9.weight": weight}, str(root / "renamed.safetensors"))
    graph = {}
    for name, change in GRAPH_CERTS.items():
        recipe = {**GRAPH_RECIPE, **change}
        if recipe["model"] == "{fifo}":
            os.mkfifo(root / "fifo.json")
            recipe["model"] = str(root / "fifo.json")
        cert = {"schema": 1, "proofs": [{"facts": {"recipe": recipe}}]}
        (root / f"{name}.json").write_text(json.dumps(cert))
        graph[name] = str(root / f"{name}.json")
    return {
        **graph,
        "ckpt": str(root / "ckpt.safetensors"),
        "ckpt_renamed": str(root / "renamed.safetensors"),
        "fifo": str(root / "fifo"),
        "dir": str(root),
        "missing": str(root / "missing.json"),
        "deep": str(root / "deep.json"),
        "digits": str(root / "digits.json"),
        "nan": str(root / "nan.json"),
        "batch": str(root / "batch.json"),
        "text": str(root / "text.json"),
        "noext": str(root / "picture"),
    }


def test_every_subcommand_has_a_table() -> None:
    assert _commands(build_parser()) == set(TABLES)


@pytest.mark.parametrize(
    ("command", "argv", "code", "fragment"),
    ROWS,
    ids=[f"{c}-{i}" for c, rows in TABLES.items() for i in range(len(rows))],
)
def test_bad_input_is_one_line_and_exit_2(
    command: str, argv: list[str], code: int, fragment: str, files, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    filled = [a.format(**files) if a.startswith("{") else a for a in argv]
    run = run_guarded(filled, seconds=60.0)
    assert violations(run, options=option_names(build_parser(), filled)) == []
    assert run.code == code
    assert fragment in run.stderr, run.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written on refusal


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def test_a_full_disk_is_one_line_and_exit_2() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "symcheck", "example"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
            env=_env(),
        )
    assert done.returncode == 2
    assert done.stderr == "symcheck: error: cannot write the output: No space left on device\n"


def test_a_closed_pipe_ends_quietly_with_141() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "symcheck", "example"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    proc.stdout.close()  # the reader is gone before the first write, as after `| head -0`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_an_unrelated_os_error_is_not_reported_as_a_full_disk(monkeypatch) -> None:
    from symcheck.cli import command

    def broken(_parser, _argv):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(command, "_run", broken)
    with pytest.raises(PermissionError):
        command.main(["example"])


def test_the_checker_rejects_a_run_that_breaks_the_contract() -> None:
    def two_lines(argv):
        print("first\nsecond", file=sys.stderr)
        return 2

    def crashes(argv):
        raise IndexError("tuple index out of range")

    def long_line(argv):
        print("e" * 400, file=sys.stderr)
        return 2

    def names_a_missing_option(argv):
        print("symcheck: error: use --no-such-flag", file=sys.stderr)
        return 2

    assert violations(run_guarded(["x"], main=two_lines)) == [
        "2 lines on stderr for an error, expected at most 1"
    ]
    assert violations(run_guarded(["x"], main=crashes))[0].startswith("raised IndexError")
    assert violations(run_guarded(["x"], main=long_line)) == ["a stderr line of 400 characters"]
    found = violations(run_guarded(["x"], main=names_a_missing_option), options={"--batch"})
    assert found == ["the message names --no-such-flag, which the command does not have"]


def test_the_deadline_is_not_swallowed_by_except_exception() -> None:
    import time

    from symcheck.cli.command import OutOfTime, _deadline

    with pytest.raises(OutOfTime, match=r"did not finish within --timeout 0\.05 s"):
        with _deadline(0.05, "spin"):
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    time.sleep(0.01)
                except Exception:
                    pass


def test_no_deadline_when_the_timeout_is_zero() -> None:
    import time

    from symcheck.cli.command import _deadline

    with _deadline(0, "sleep"):
        time.sleep(0.1)  # nothing fires
