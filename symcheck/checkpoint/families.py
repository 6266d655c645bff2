"""Architecture families as data: the unit spaces of known checkpoint layouts.

Each ``families/*.json`` file describes one family (BERT, GPT-2,
Llama/Mistral, Mixtral, ViT, ResNet) with the same fields; there is no code
per family. A file holds

* ``model_types``: the ``config.json`` values of ``model_type`` it covers;
* ``prefixes`` and ``probe``: the tensor-name prefixes a checkpoint may use
  (``bert.``, ``model.``…) and a tensor that identifies the prefix;
* ``vars``: integer variables computed from the config (``hidden // heads``;
  see :mod:`symcheck.checkpoint.expr`);
* ``spaces``: unit spaces, each with a ``kind`` (:data:`KINDS`), a ``label``,
  optional ``for`` loops (``{"layer": "layers"}`` expands ``{layer}`` in
  names), an optional ``when`` condition, a ``width`` and ``members``. A
  member names a tensor pattern, the ``axis`` the units act on (``null``:
  one whole tensor per unit, named with the ``unit`` placeholder), the
  ``block`` of indices per unit, an ``offset`` and ``stride`` (unit ``u``
  covers ``offset + u*stride + [0, block)``; slices express GPT-2's fused
  ``c_attn``), its own ``for`` loops, a ``role`` (``in``: the unit's
  incoming weights, ``out``: its outgoing weights, ``param``: neither) and
  ``optional``;
* ``fixed``: glob patterns of tensors known to couple to no listed space
  except through listed members (their other axes are fixed), and buffers.

Soundness (docs/theory.md, the soundness rule): a space lists every tensor
its permutation must act on; whatever is not listed is fixed, which can hide
a tie but never invent one. Axes a family cannot express soundly are simply
not listed (RoPE fixes the query-key dimensions; a ResNet stage's residual
channels are not modelled).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from symcheck.checkpoint.expr import evaluate
from symcheck.errors import InvalidArgument

__all__ = ["KINDS", "ROLES", "Family", "Member", "Space", "families", "family_for", "resolve"]

#: Kinds of unit space (docs/theory.md, table of unit spaces).
KINDS = ("neuron", "head", "qk_dim", "vo_dim", "channel", "expert", "stream", "rows", "columns")
ROLES = ("in", "out", "param")
_MAX_UNITS = 1 << 24
_MAX_SPACES = 200_000
#: Units that own one whole tensor each (experts) per space.
_MAX_WHOLE = 4096


@dataclass(frozen=True)
class Member:
    """One tensor a unit space acts on, and where each unit sits in it.

    ``tensors`` has one name, or one per unit when ``axis`` is ``None``.
    """

    tensors: tuple[str, ...]
    axis: int | None
    offset: int
    stride: int
    block: int
    role: str
    #: The units tile the whole axis (no explicit offset or stride).
    tiled: bool = False

    def indices(self, unit: int) -> range:
        start = self.offset + unit * self.stride
        return range(start, start + self.block)


@dataclass(frozen=True)
class Space:
    """A unit space of one checkpoint: ``width`` interchangeable units."""

    id: str
    kind: str
    label: str
    width: int
    members: tuple[Member, ...]
    #: Why no claim can be made for this space (``None``: claims allowed).
    unsound: str | None = None
    #: The tensors present do not fit the config (the space is not scanned).
    mismatch: bool = False

    @property
    def tensors(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for m in self.members for t in m.tensors))


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    data: Mapping[str, Any]


@cache
def families() -> tuple[Family, ...]:
    """Every family file shipped in ``symcheck/checkpoint/families``."""
    out = []
    folder = resources.files("symcheck.checkpoint") / "families"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            out.append(Family(data["family"], tuple(data["model_types"]), data))
    return tuple(out)


def family_for(model_type: object) -> Family | None:
    """The family covering ``model_type``, or ``None`` when it is unknown."""
    return next((f for f in families() if model_type in f.model_types), None)


# --------------------------------------------------------------------------- resolution


def _loops(
    spec: Mapping[str, str], names: dict[str, Any], config: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    items = list(spec.items())
    if not items:
        yield {}
        return
    (var, bound), rest = items[0], dict(items[1:])
    count = evaluate(bound, names, config)
    if not isinstance(count, int) or not 0 <= count <= _MAX_UNITS:
        raise InvalidArgument(f"loop {var}={bound!r} gives {count!r}; expected a count")
    for value in range(count):
        inner = {**names, var: value}
        for more in _loops(rest, inner, config):
            yield {var: value, **more}


_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _name(pattern: str, scope: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """``pattern`` with every ``{expression}`` replaced by its value."""
    return _PLACEHOLDER.sub(lambda m: str(evaluate(m.group(1), scope, config)), pattern)


def _int(text: object, names: Mapping[str, Any], config: Mapping[str, Any]) -> int:
    value = evaluate(str(text), names, config)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 1 << 40:
        raise InvalidArgument(f"family value {text!r} gives {value!r}; expected an int >= 0")
    return value


def _prefix(family: Family, names: set[str]) -> str | None:
    for prefix in family.data["prefixes"]:
        if prefix + family.data["probe"] in names:
            return prefix
    return None


def _member(
    spec: Mapping[str, Any],
    scope: dict[str, Any],
    config: Mapping[str, Any],
    width: int,
    prefix: str,
) -> tuple[Member | None, list[str]]:
    """Resolve a member spec in one loop scope; also returns its tensor names."""
    axis = spec.get("axis")
    unit = spec.get("unit")

    def full(pattern: str, extra: Mapping[str, int]) -> str:
        name = _name(pattern, {**scope, **extra}, config)
        return name[1:] if name.startswith("/") else prefix + name

    if axis is None:
        if width > _MAX_WHOLE:
            raise InvalidArgument(
                f"the config gives {width} units of one whole tensor each (at most {_MAX_WHOLE})"
            )
        tensors = tuple(full(spec["tensor"], {unit: u}) for u in range(width))
        return Member(tensors, None, 0, 0, 0, spec.get("role", "param")), list(tensors)
    block = _int(spec.get("block", 1), scope, config)
    member = Member(
        (full(spec["tensor"], {}),),
        int(axis),
        _int(spec.get("offset", 0), scope, config),
        _int(spec.get("stride", spec.get("block", 1)), scope, config),
        block,
        spec.get("role", "param"),
        "offset" not in spec and "stride" not in spec,
    )
    return member, list(member.tensors)


def _check(member: Member, width: int, shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """Why ``member`` does not fit the tensors present, or ``None``."""
    first = shapes[member.tensors[0]]
    if member.axis is None:
        odd = next((t for t in member.tensors if shapes[t] != first), None)
        return None if odd is None else f"{odd} has shape {shapes[odd]}, expected {first}"
    if member.axis >= len(first):
        return f"{member.tensors[0]} has no axis {member.axis} (shape {first})"
    length = first[member.axis]
    end = member.offset + (width - 1) * member.stride + member.block
    if (member.tiled and length != width * member.block) or end > length or member.block == 0:
        return (
            f"{member.tensors[0]} has {length} entries on axis {member.axis}; the config gives "
            f"{width} units of {member.block}"
        )
    return None


def resolve(
    family: Family, config: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]
) -> tuple[list[Space], list[str], set[str]]:
    """The unit spaces of a checkpoint of ``family`` with ``config``.

    Returns the spaces (a space whose tensors are missing or do not fit the
    config is returned with ``unsound`` set, never silently dropped), notes,
    and the names of every tensor the family recognises.
    """
    data = family.data
    names = set(shapes)
    prefix = _prefix(family, names)
    if prefix is None:
        raise InvalidArgument(
            f"model_type {config.get('model_type')!r} ({family.name}) but no tensor named like "
            f"{data['probe']!r}: the checkpoint does not match its config"
        )
    scope: dict[str, Any] = dict(config)
    for var, text in data["vars"].items():
        scope[var] = evaluate(text, scope, config)
    spaces: list[Space] = []
    recognised: set[str] = set()
    notes: list[str] = []
    for spec in data["spaces"]:
        for loop in _loops(spec.get("for", {}), scope, config):
            local = {**scope, **loop}
            if "when" in spec and not evaluate(spec["when"], local, config):
                continue
            width = _int(spec["width"], local, config)
            if width > _MAX_UNITS:
                raise InvalidArgument(
                    f"space {spec['id']!r} has width {width} from the config (at most {_MAX_UNITS})"
                )
            members, problem, mismatch = [], None, False
            for mspec in spec["members"]:
                for inner in _loops(mspec.get("for", {}), local, config):
                    member, tensors = _member(mspec, {**local, **inner}, config, width, prefix)
                    recognised.update(tensors)
                    missing = [t for t in tensors if t not in names]
                    if missing:
                        if not mspec.get("optional", False) and problem is None:
                            problem = f"tensor {missing[0]!r} is missing"
                        continue
                    misfit = _check(member, width, shapes)
                    mismatch = mismatch or misfit is not None
                    problem = problem or misfit
                    members.append(member)
            space = Space(
                _name(spec["id"], local, config),
                spec["kind"],
                _name(spec["label"], local, config),
                width,
                tuple(members),
                None if problem is None else f"no claim: {problem}",
                mismatch,
            )
            spaces.append(space)
            if len(spaces) > _MAX_SPACES:
                raise InvalidArgument(f"the config expands to more than {_MAX_SPACES} unit spaces")
    globs = [g[1:] if g.startswith("/") else prefix + g for g in data.get("fixed", [])]
    recognised.update(n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs))
    return spaces, notes, recognised


def coupled(
    space: Space, unknown: Mapping[str, tuple[int, ...]], shapes: Mapping[str, tuple[int, ...]]
) -> str | None:
    """An unrecognised tensor with an axis the space's permutation could act on, if any.

    A tensor outside the family could be read or written by the units of a
    space only along an axis of length ``width * block`` for some block the
    space uses, or (one whole tensor per unit) of the same shape as a unit's
    tensor; such a space gets no claim (its listed tensors may be incomplete).
    """
    lengths = {space.width} | {space.width * m.block for m in space.members if m.axis is not None}
    whole = {shapes[m.tensors[0]] for m in space.members if m.axis is None}
    for name, shape in unknown.items():
        if any(d in lengths for d in shape) or shape in whole:
            return name
    return None
