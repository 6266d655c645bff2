"""The JSON graph file: :meth:`Graph.to_json <symcheck.graph.ir.Graph.to_json>` on disk.

Format (documented in ``docs/graph.md``)::

    {"inputs": [{"name": "x", "shape": [2, 3], "dtype": "float"}],
     "parameters": [{"name": "fc1.weight", "shape": [4, 3]}, ...],
     "nodes": [{"op": "linear", "inputs": ["x"], "params": ["fc1.weight"],
                "attrs": {}, "output": "h"}, ...],
     "output": "y",
     "loss": {"name": "mse", "target": "target", "reduction": "mean"}}   # optional

Untrusted input: the file size, the JSON nesting depth, the number of nodes,
inputs and parameters and the number of parameter elements are checked before
the work they bound; every structural error is one
:class:`~symcheck.errors.InvalidArgument` naming the bad entry.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from symcheck.errors import InvalidArgument
from symcheck.graph.ir import Graph, Input, Loss, Node, Parameter

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "MAX_NODES",
    "MAX_PARAMETER_ELEMENTS",
    "graph_from_json",
    "load_graph_file",
]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NESTING = 8
MAX_NODES = 10_000
MAX_PARAMETER_ELEMENTS = 10**8
_TOP_KEYS = {"inputs", "parameters", "nodes", "output", "loss"}


def _nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _field(entry: object, key: str, where: str, kind: type | tuple[type, ...]) -> object:
    if not isinstance(entry, dict) or key not in entry:
        raise InvalidArgument(f"graph file: {where} needs the field {key!r}")
    value = entry[key]
    if not isinstance(value, kind):
        raise InvalidArgument(f"graph file: {where} field {key!r}={value!r} has the wrong type")
    return value


def _names(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = _field(entry, key, where, list)
    if not all(isinstance(v, str) for v in value):  # type: ignore[attr-defined]
        raise InvalidArgument(f"graph file: {where} field {key!r} must be a list of names")
    return tuple(value)  # type: ignore[arg-type]


def _list(data: dict, key: str, *, required: bool = True) -> list:
    if key not in data:
        if required:
            raise InvalidArgument(f"graph file: the top-level field {key!r} is missing")
        return []
    value = data[key]
    if not isinstance(value, list):
        raise InvalidArgument(f"graph file: {key!r} must be a list")
    return value


def _elements(shape: object) -> int:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape
    ):
        return 0  # the IR refuses it with its own message
    return math.prod(shape)


def graph_from_json(data: object) -> Graph:
    """Build a graph from parsed graph-file JSON (limits checked first)."""
    if not isinstance(data, dict):
        raise InvalidArgument("graph file: the top level must be a JSON object")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise InvalidArgument(
            f"graph file: unknown top-level field {unknown[0]!r}; "
            f"the fields are {sorted(_TOP_KEYS)}"
        )
    inputs, parameters, nodes = (
        _list(data, "inputs"),
        _list(data, "parameters"),
        _list(data, "nodes"),
    )
    for key, items in (("nodes", nodes), ("inputs", inputs), ("parameters", parameters)):
        if len(items) > MAX_NODES:
            raise InvalidArgument(
                f"graph file: {len(items)} {key}, more than the limit {MAX_NODES}"
            )
    total = sum(_elements(p.get("shape") if isinstance(p, dict) else None) for p in parameters)
    if total > MAX_PARAMETER_ELEMENTS:
        raise InvalidArgument(
            f"graph file: {total} parameter elements, more than the limit {MAX_PARAMETER_ELEMENTS}"
        )
    ins = tuple(
        Input(
            _field(e, "name", f"inputs[{k}]", str),  # type: ignore[arg-type]
            _field(e, "shape", f"inputs[{k}]", list),  # type: ignore[arg-type]
            e.get("dtype", "float"),
        )
        for k, e in enumerate(inputs)
    )
    params = tuple(
        Parameter(
            _field(e, "name", f"parameters[{k}]", str),  # type: ignore[arg-type]
            _field(e, "shape", f"parameters[{k}]", list),  # type: ignore[arg-type]
        )
        for k, e in enumerate(parameters)
    )
    graph_nodes = []
    for k, e in enumerate(nodes):
        where = f"nodes[{k}]"
        attrs = e.get("attrs", {}) if isinstance(e, dict) else {}
        if not isinstance(attrs, dict):
            raise InvalidArgument(f"graph file: {where} field 'attrs' must be an object")
        graph_nodes.append(
            Node(
                _field(e, "op", where, str),  # type: ignore[arg-type]
                _names(e, "inputs", where),
                _field(e, "output", where, str),  # type: ignore[arg-type]
                _names(e, "params", where) if "params" in e else (),
                attrs,
            )
        )
    loss = None
    if data.get("loss") is not None:
        spec = data["loss"]
        loss = Loss(
            _field(spec, "name", "loss", str),  # type: ignore[arg-type]
            spec.get("target", "target"),
            spec.get("reduction", "mean"),
        )
    output = _field(data, "output", "the top level", str)
    return Graph(ins, params, tuple(graph_nodes), output, loss)  # type: ignore[arg-type]


def load_graph_file(path: str | Path) -> Graph:
    """Read and validate a graph file (size and nesting checked before parsing)."""
    file = Path(path)
    try:
        if not file.is_file():
            raise InvalidArgument(f"graph file {str(path)!r} does not exist or is not a file")
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidArgument(
                f"graph file {file.name!r} has {size} bytes, more than the limit {MAX_FILE_BYTES}"
            )
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:  # e.g. a name too long for the file system
        raise InvalidArgument(f"graph file {str(path)!r} cannot be read: {exc.strerror}") from None
    if _nesting(text) > MAX_NESTING:
        raise InvalidArgument(
            f"graph file {file.name!r} nests deeper than {MAX_NESTING} levels; "
            "a graph file needs at most 4"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"graph file {file.name!r} is not valid JSON: {exc}") from None
    except ValueError:  # a number beyond Python's int-to-str digit limit
        raise InvalidArgument(
            f"graph file {file.name!r} holds a number of thousands of digits; "
            "graph files hold small numbers"
        ) from None
    return graph_from_json(data)
