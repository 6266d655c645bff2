"""``symcheck audit`` routes checkpoints (directory, index, several files, config) to the
architecture-aware audit and keeps single weight files on the dense-chain audit."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from symcheck.checkpoint import schedule
from symcheck.cli import main


def _planted_ffn_tie(tensors: dict) -> dict:
    out = dict(tensors)
    for name in [
        n for n in out if n.endswith("mlp.gate_proj.weight") or n.endswith("up_proj.weight")
    ]:
        w = out[name].copy()
        w[1] = w[0]
        out[name] = w
    for name in [n for n in out if n.endswith("mlp.down_proj.weight")]:
        w = out[name].copy()
        w[:, 1] = w[:, 0]
        out[name] = w
    return out


def test_a_directory_with_a_config_gets_the_architecture_aware_audit(checkpoint, capsys):
    folder = checkpoint("llama")
    assert main(["audit", str(folder), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema"].startswith("symcheck.checkpoint/")


def test_a_planted_ffn_tie_in_a_checkpoint_fails_the_gate(checkpoint, tensors, capsys):
    folder = checkpoint("llama", _planted_ffn_tie(tensors("llama")))
    assert main(["audit", str(folder / "model.safetensors")]) == 1
    assert "tie" in capsys.readouterr().out.lower()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--arch", "mlp"], "--arch does not apply to a checkpoint"),
        (["--tolerance", "0.1"], "--tolerance does not apply to a checkpoint"),
    ],
)
def test_file_options_are_refused_for_a_checkpoint(checkpoint, extra, fragment, capsys):
    assert main(["audit", str(checkpoint("llama")), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_checkpoint_options_are_refused_for_one_plain_weight_file(tmp_path, capsys):
    path = tmp_path / "w.npz"
    np.savez(path, **{"0.weight": np.ones((2, 2)), "2.weight": np.ones((1, 2))})
    assert main(["audit", str(path), "--jobs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--jobs does not apply to a single weight file" in err[0]


def test_a_timeout_mid_audit_is_one_line_and_stops_the_workers(
    checkpoint, monkeypatch, capsys, caplog
):
    # Every member takes 50 ms, so the audit outlasts --timeout 0.3. The answer is one
    # line and exit 2; the queued members never start (before, the pool ran them all
    # before the command returned) and no callback submits to the pool after its
    # shutdown (that logged tracebacks).
    real, calls, returned = schedule.scan_member, [], threading.Event()

    def slow(*args, **kw):
        calls.append(returned.is_set())
        time.sleep(0.05)
        return real(*args, **kw)

    monkeypatch.setattr(schedule, "scan_member", slow)
    folder = checkpoint("llama")
    assert main(["audit", str(folder), "--jobs", "2", "--timeout", "0"]) == 0
    total, calls[:] = len(calls), []
    capsys.readouterr()
    assert main(["audit", str(folder), "--jobs", "2", "--timeout", "0.3"]) == 2
    returned.set()
    time.sleep(0.3)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did not finish within --timeout 0.3 s" in err[0]
    assert total >= 30 and 0 < len(calls) < total / 2 and not any(calls)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
