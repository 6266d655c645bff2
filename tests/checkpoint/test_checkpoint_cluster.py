"""The audit on a Dask cluster gives the local JSON, byte for byte; bad schedulers are one line.

The cluster is a ``distributed.LocalCluster`` of two single-thread workers in
this process (``processes=False``: it starts in a fraction of a second); the
tasks still go through the scheduler and the workers, opening the checkpoint
there. Skipped only where ``distributed`` is not installed (the ``test`` extra
installs it).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

from symcheck.checkpoint import audit_checkpoint
from symcheck.cli import main
from symcheck.errors import InvalidArgument, SymcheckError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as local:
        yield local


def _planted(tensors):
    t = tensors("llama")
    p = "model.layers.1.mlp."
    for name in ("gate_proj", "up_proj"):
        t[p + name + ".weight"][5] = t[p + name + ".weight"][3]
    t[p + "down_proj.weight"][:, 5] = t[p + "down_proj.weight"][:, 3]
    t["model.layers.0.mlp.down_proj.weight"][:, 9] = 0.0  # a dead FFN neuron
    return t


def test_sharded_checkpoint_on_the_cluster_is_the_local_json(
    tmp_path, tensors, configs, sharded, cluster, capsys
):
    index = sharded(tmp_path / "sharded", _planted(tensors), configs["llama"])
    local = audit_checkpoint(index, jobs=2).to_json()
    remote = audit_checkpoint(index, scheduler=cluster.scheduler_address).to_json()
    assert remote == local
    verdicts = {s["id"]: s["verdict"] for s in json.loads(local)["spaces"]}
    assert verdicts["layer1.ffn"] == "collapsed" and verdicts["layer0.ffn"] == "dead"
    # The command line, both ways: the same bytes on stdout, the same exit code.
    assert main(["audit", str(index), "--format", "json"]) == 1
    by_threads = capsys.readouterr().out
    argv = ["audit", str(index), "--format", "json", "--scheduler", cluster.scheduler_address]
    assert main(argv) == 1
    assert capsys.readouterr().out == by_threads == local


def test_wide_spaces_reuse_norms_across_phases_on_the_cluster(tmp_path, cluster):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(1)
    t = {f"l{i}.weight": rng.standard_normal((150, 200)).astype(np.float32) for i in range(3)}
    t["l1.weight"][:, 7] = t["l1.weight"][:, 3] * np.float32(1.001)  # near-duplicate columns
    path = tmp_path / "wide.safetensors"
    save_file(t, str(path))
    with distributed.Client(cluster, set_as_default=False) as client:
        remote = audit_checkpoint([path], scheduler=client)
        assert client.status == "running"  # a client given is the caller's: not closed
    local = audit_checkpoint([path], jobs=1)
    assert remote.to_json() == local.to_json()
    columns = next(s for s in local.spaces if s.id == "l1.weight:columns")
    assert [(i, j) for i, j, _ in columns.near] == [(3, 7)]


def test_a_worker_that_sees_other_files_is_refused(tmp_path, checkpoint, cluster, monkeypatch):
    from symcheck.checkpoint import cluster as module

    real = module.fingerprint
    calls = iter(range(1000))
    # The client's fingerprint, then each worker's: a different checkpoint every time.
    monkeypatch.setattr(module, "fingerprint", lambda store: f"{real(store)}{next(calls)}")
    with pytest.raises(SymcheckError, match="sees other files"):
        audit_checkpoint(checkpoint("llama"), scheduler=cluster.scheduler_address)


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("tcp://127.0.0.1:1", "cannot connect within 0.5 s"),
        ("nonsense://host:1", "unknown address scheme"),
        ("127.0.0.1:notaport", "cannot connect"),
        ("", "is not an address"),
        ("tcp://a b:1", "is not an address"),
    ],
)
def test_a_bad_or_unreachable_scheduler_is_one_line_and_exit_2(
    checkpoint, address, fragment, capsys
):
    folder = str(checkpoint("llama"))
    start = time.monotonic()
    code = main(["audit", folder, "--scheduler", address, "--connect-timeout", "0.5"])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0], err
    assert "tcp://HOST:8786" in err[0]  # the fix: what an address looks like
    assert elapsed < 10  # bounded by the connect timeout, not by distributed's retries


def test_scheduler_options_are_checked_before_connecting(checkpoint, capsys):
    folder = str(checkpoint("llama"))
    start = time.monotonic()
    argv = ["audit", folder, "--scheduler", "tcp://127.0.0.1:1", "--jobs", "2"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--jobs does not apply with --scheduler" in err[0]
    with pytest.raises(SystemExit) as exit_:
        main(["audit", folder, "--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "must be in (0, 3600] seconds" in err[0]
    assert time.monotonic() - start < 5  # refused before any connection attempt


def test_connect_timeout_without_scheduler_is_refused(checkpoint, capsys):
    assert main(["audit", str(checkpoint("llama")), "--connect-timeout", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--connect-timeout applies only with --scheduler" in err[0]


def test_a_scheduler_that_is_neither_an_address_nor_a_client_is_refused(checkpoint):
    with pytest.raises(InvalidArgument, match="is not an address"):
        audit_checkpoint(checkpoint("llama"), scheduler=8786)


def test_without_distributed_the_scheduler_is_refused_with_the_fix(checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(InvalidArgument, match=r"pip install 'symcheck\[dask\]'"):
        audit_checkpoint(checkpoint("llama"), scheduler="tcp://127.0.0.1:8786")
