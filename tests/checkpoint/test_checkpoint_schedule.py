"""The audit's thread pool: the same members read shared norms, and the JSON, for any ``jobs``."""

from __future__ import annotations

import time

import pytest

from symcheck.checkpoint import audit_checkpoint, render, schedule
from symcheck.checkpoint.audit import _observation_spaces
from symcheck.checkpoint.families import family_for, resolve
from symcheck.checkpoint.store import open_store


def test_plan_reads_each_tensors_norms_from_its_first_full_decode(wide, checkpoint, tensors):
    folder = checkpoint("llama", tensors("llama", config=wide), wide)
    with open_store(folder) as store:
        shapes = {n: r.shape for n, r in store.tensors.items()}
        spaces, _, _ = resolve(family_for("llama"), wide, shapes)
        spaces = sorted(spaces, key=lambda s: s.kind == "stream")
        sources = schedule.plan(store, spaces)
    index = {s.id: i for i, s in enumerate(spaces)}
    stream = index["stream"]

    def slot(space_id, tensor):
        i = index[space_id]
        return i, next(m for m, x in enumerate(spaces[i].members) if x.tensors[0] == tensor)

    gate = "model.layers.1.mlp.gate_proj.weight"
    assert sources[slot("stream", gate)] == slot("layer1.ffn", gate)
    o_proj = "model.layers.0.self_attn.o_proj.weight"
    assert slot("stream", o_proj) not in sources  # no space decodes o_proj whole before
    assert all(src < dst for dst, src in sources.items())  # always an earlier task
    assert {dst[0] for dst in sources} == {stream}  # the FFN (80) and value dims (24) decode


@pytest.mark.parametrize("jobs", [2, 4])
def test_the_json_is_the_same_for_any_jobs_even_when_publishers_are_slow(
    wide, checkpoint, tensors, monkeypatch, jobs
):
    # Without a config every matrix gives a rows and a columns space: the columns
    # space reads the norms its rows space publishes.
    folder = checkpoint("llama", tensors("llama", config=wide), wide, with_config=False)
    serial = render(audit_checkpoint(folder, jobs=1), "json")
    real = schedule.scan_member
    fast: set[tuple[str, int]] = set()

    def slow_publisher(store, space, index, **kw):
        if kw["known"] is None and schedule.publishes(store, space.members[index]):
            time.sleep(0.02)  # a consumer scheduled meanwhile must wait, not decode
        if kw["known"] is not None:
            fast.add((space.id, index))
        return real(store, space, index, **kw)

    monkeypatch.setattr(schedule, "scan_member", slow_publisher)
    assert render(audit_checkpoint(folder, jobs=jobs), "json") == serial
    with open_store(folder) as store:
        spaces = _observation_spaces(store)
        planned = {(spaces[i].id, m) for i, m in schedule.plan(store, spaces)}
    assert planned and fast == planned
    assert all(i.endswith(":columns") for i, _ in planned)
