"""A tiny, safe evaluator for the arithmetic in family files.

Family files compute block sizes and loop bounds from ``config.json``
(``hidden // heads``, ``get('num_key_value_heads', heads)``,
``len(depths)``, ``depths[stage]``). Only integer and string constants,
names, ``+ - * // %``, comparisons, ``and``/``or``/``not``, subscripts and
the functions ``get`` and ``len`` are accepted; anything else is refused, so
a family file cannot run code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from symcheck.errors import InvalidArgument

__all__ = ["evaluate"]

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_MAX_LENGTH = 200


def evaluate(text: str, names: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    """Value of ``text`` with ``names`` (family variables) and ``config`` (for ``get``)."""
    if not isinstance(text, str) or len(text) > _MAX_LENGTH:
        raise InvalidArgument(f"family expression {str(text)[:80]!r} must be a short string")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise InvalidArgument(f"family expression {text!r} is not valid") from None
    try:
        return _eval(tree.body, names, config)
    except (TypeError, ZeroDivisionError, IndexError, KeyError) as exc:
        raise InvalidArgument(
            f"family expression {text!r} cannot be evaluated on this config ({exc!s:.80})"
        ) from None


def _eval(node: ast.AST, names: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    if (isinstance(node, ast.Constant) and isinstance(node.value, (int, str))) or (
        isinstance(node, ast.Constant) and node.value is None
    ):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        raise InvalidArgument(f"family expression uses unknown name {node.id!r}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](
            _eval(node.left, names, config), _eval(node.right, names, config)
        )
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left = _eval(node.left, names, config)
        return _COMPARE[type(node.ops[0])](left, _eval(node.comparators[0], names, config))
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, names, config) for v in node.values]
        if isinstance(node.op, ast.And):  # Python's value semantics: first falsy, else last
            return next((v for v in values if not v), values[-1])
        return next((v for v in values if v), values[-1])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, names, config)
    if isinstance(node, ast.Subscript):
        return _eval(node.value, names, config)[_eval(node.slice, names, config)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        args = [_eval(a, names, config) for a in node.args]
        if node.func.id == "len" and len(args) == 1:
            return len(args[0])
        if node.func.id == "get" and len(args) in (1, 2) and isinstance(args[0], str):
            value = config.get(args[0])
            return value if value is not None else (args[1] if len(args) == 2 else None)
    raise InvalidArgument(f"family expression part {ast.dump(node)[:60]!r} is not allowed")
