r"""Exact init points of a graph: a table of distinct values and a code array per parameter.

A :class:`Point` holds every parameter as an ``int64`` array of *codes* into
a table of distinct exact values: SymPy values (rationals, symbols,
expressions), or for random and given float parameters a float64 array of
distinct numbers, each an exact binary rational, converted to SymPy only for
the entries that exact work touches. Two entries are equal exactly when their codes are equal, so a
permutation fixes the point exactly when it fixes the code arrays, which is
checked bit for bit with NumPy (theory: docs/theory.md, T1: a tie is certified
by a permutation ``g`` with :math:`g\theta_0 = \theta_0`).

The init patterns of :data:`INITS` (one recipe each):

* ``zero``: every parameter entry is 0;
* ``constant``: every entry equals ``value`` (a rational such as ``1/10`` or a
  symbol name; default the free symbol ``c``);
* ``tied``: the most general point fixed by the whole symmetry group ``G`` of
  the graph: entries in one ``G``-orbit share one free symbol, as the chain's
  ``tied`` init does for hidden neurons (the orbit of an entry is read off its
  index: the fixed digits of every axis, and for every unit space which of the
  entry's coordinates in that space coincide);
* ``random``: seeded standard normal float64 numbers (:mod:`symcheck.graph.sample`),
  kept as float64 (exact binary values; NumPy only, no SymPy per entry).

:func:`given_point` interns parameters you give (float arrays by exact value,
object arrays of SymPy expressions by structural equality).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from symcheck.errors import InvalidArgument, choices_message
from symcheck.graph.ir import Graph
from symcheck.graph.sample import random_parameters
from symcheck.graph.symmetry import Symmetries, infer_symmetries
from symcheck.prove.symbolic import constant_value

__all__ = ["INITS", "MAX_ENTRIES", "Point", "given_point", "init_point", "orbit_codes"]

#: Largest number of parameter entries of a point (8 bytes of codes each).
MAX_ENTRIES = 25_000_000


@dataclass(frozen=True, eq=False)
class Point:
    """An exact parameter point: ``values[codes[name]]`` is parameter ``name``.

    ``table`` holds the distinct values: a tuple of SymPy values, or a float64
    array of distinct numbers (a *numeric* point: random or given floats).
    A float64 number is an exact binary rational, so the numeric table is exact
    too; it is converted to SymPy rationals only where exact work needs them
    (:meth:`value`, :attr:`values`, :meth:`arrays`), while the tie search and
    the structural proof read the codes alone.
    """

    name: str
    description: str
    table: tuple[sp.Expr, ...] | np.ndarray
    codes: Mapping[str, np.ndarray]

    @property
    def numeric(self) -> bool:
        """Is the table a float64 array (no conversion to SymPy done yet)?"""
        return isinstance(self.table, np.ndarray)

    def __len__(self) -> int:
        """The number of distinct values."""
        return len(self.table)

    def value(self, code: int) -> sp.Expr:
        """The exact value of one code (a float64 number as its exact binary rational)."""
        if self.numeric:
            return sp.Rational(float(self.table[code]))
        return self.table[code]  # type: ignore[index]

    @cached_property
    def values(self) -> tuple[sp.Expr, ...]:
        """Every distinct value, exact (converts the whole table once: small points only)."""
        if self.numeric:
            return tuple(sp.Rational(float(v)) for v in self.table)
        return tuple(self.table)

    def floats(self) -> np.ndarray | None:
        """The table as float64 numbers, or ``None`` when a value has a free symbol."""
        if self.numeric:
            return self.table  # type: ignore[return-value]
        if any(v.free_symbols for v in self.table):
            return None
        return np.array([float(v) for v in self.table], dtype=np.float64)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every parameter as an object array of SymPy values."""
        table = np.empty(len(self.table), dtype=object)
        table[:] = self.values
        return {name: table[code] for name, code in self.codes.items()}

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """The free symbols of the point, sorted by name."""
        if self.numeric:
            return ()
        found: set[sp.Symbol] = set()
        for v in self.table:
            found |= v.free_symbols
        return tuple(sorted(found, key=lambda s: s.name))


def _filled(graph: Graph, name: str, value: sp.Expr, description: str) -> Point:
    codes = {p.name: np.zeros(p.shape, dtype=np.int64) for p in graph.parameters}
    return Point(name, description, (value,), codes)


def orbit_codes(graph: Graph, symmetries: Symmetries, name: str) -> np.ndarray:
    """Label every entry of parameter ``name`` by its orbit under the whole group ``G``.

    ``G`` is generated by the permutations of every movable unit space. An
    entry's orbit is determined by (1) the digits of its index that no space
    moves and (2) for every space, which of the entry's coordinates in that
    space are equal (a space acting on two axes of one parameter, e.g. a
    stream-to-stream matrix, keeps its diagonal apart from the rest). For a
    restricted space whose units are permuted within blocks of an outer space,
    the outer space's coordinates (present on the same axes) carry the block.
    """
    shape = graph.shape(name)
    index = np.indices(shape, dtype=np.int64).reshape(len(shape), -1)
    rest = [index[a].copy() for a in range(len(shape))]
    occurrences: dict[str, list[np.ndarray]] = {}
    for space in symmetries.movable:
        for ref in space.axes:
            if ref.parameter != name:
                continue
            unit = (index[ref.axis] // ref.block) % space.size
            inner = len(space.blocks[0]) if space.group == "restricted" and space.blocks else None
            digit = unit % inner if inner else unit
            rest[ref.axis] = rest[ref.axis] - digit * ref.block
            occurrences.setdefault(space.name, []).append(unit)
    columns = list(rest)
    radices = list(shape)
    for units in occurrences.values():
        for i in range(len(units)):
            for j in range(i + 1, len(units)):
                columns.append((units[i] == units[j]).astype(np.int64))
                radices.append(2)
    if not columns:
        return np.zeros(shape, dtype=np.int64)
    if np.prod([float(r) for r in radices]) < 2.0**62:  # one mixed-radix key per entry
        key = np.zeros(index.shape[1], dtype=np.int64)
        for column, radix in zip(columns, radices):
            key = key * radix + column
        _, labels = np.unique(key, return_inverse=True)
    else:
        _, labels = np.unique(np.stack(columns), axis=1, return_inverse=True)
    return labels.reshape(shape).astype(np.int64)


def _zero(graph: Graph, value: object, seed: int) -> Point:
    return _filled(graph, "zero", sp.Integer(0), "every parameter entry is 0")


def _constant(graph: Graph, value: object, seed: int) -> Point:
    c = constant_value(value)
    return _filled(graph, "constant", c, f"every parameter entry equals {c}")


def _tied(graph: Graph, value: object, seed: int) -> Point:
    symmetries = infer_symmetries(graph)
    values: list[sp.Expr] = []
    codes = {}
    for p in graph.parameters:
        labels = orbit_codes(graph, symmetries, p.name)
        count = int(labels.max()) + 1 if labels.size else 0
        codes[p.name] = labels + len(values)
        values.extend(sp.Symbol(f"{p.name}_t{k}") for k in range(count))
    return Point(
        "tied",
        "entries in one orbit of the symmetry group share one free symbol (the most general "
        "point that every permutation of every unit space fixes)",
        tuple(values),
        codes,
    )


def _random(graph: Graph, value: object, seed: int) -> Point:
    params = random_parameters(graph, np.random.default_rng(seed))
    point = given_point(graph, params)
    return Point(
        "random",
        f"seeded standard normal float64 numbers (seed {seed}), as exact binary values",
        point.table,
        point.codes,
    )


#: Init patterns: name -> builder(graph, value, seed).
INITS: dict[str, Callable[[Graph, object, int], Point]] = {
    "zero": _zero,
    "constant": _constant,
    "tied": _tied,
    "random": _random,
}


def _numeric_point(
    graph: Graph, arrays: Mapping[str, np.ndarray], name: str, description: str
) -> Point:
    """Codes into the sorted distinct float64 numbers of every parameter (NumPy only)."""
    flats = [
        np.ascontiguousarray(arrays[p.name], dtype=np.float64).reshape(-1) for p in graph.parameters
    ]
    every = np.concatenate(flats) if flats else np.zeros(0)
    if not np.all(np.isfinite(every)):
        raise InvalidArgument("a parameter holds inf or nan; give finite numbers")
    every[every == 0] = 0.0  # -0.0 and 0.0 are one exact value
    table, inverse = np.unique(every, return_inverse=True)
    codes, start = {}, 0
    for p, flat in zip(graph.parameters, flats):
        codes[p.name] = inverse[start : start + flat.size].reshape(p.shape).astype(np.int64)
        start += flat.size
    return Point(name, description, table, codes)


def _intern_float(array: np.ndarray, table: dict[sp.Expr, int]) -> np.ndarray:
    flat = np.ascontiguousarray(array, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(flat)):
        raise InvalidArgument("a parameter holds inf or nan; give finite numbers")
    unique, inverse = np.unique(flat, return_inverse=True)
    local = np.array([table.setdefault(sp.Rational(float(u)), len(table)) for u in unique])
    return local[inverse].reshape(array.shape).astype(np.int64) if unique.size else inverse


def _intern_object(array: np.ndarray, table: dict[sp.Expr, int]) -> np.ndarray:
    codes = np.empty(array.shape, dtype=np.int64)
    for index, v in np.ndenumerate(array):
        codes[index] = table.setdefault(sp.sympify(v), len(table))
    return codes


def given_point(graph: Graph, params: Mapping[str, object], *, name: str = "given") -> Point:
    """Intern the parameters you give: exact binary values of floats, SymPy values as they are.

    Real arrays alone give a numeric point (float64 table); any object array
    makes every value a SymPy value.
    """
    if not isinstance(params, Mapping):
        raise InvalidArgument(
            f"params must be a mapping name -> array, got {type(params).__name__}"
        )
    missing = sorted(set(graph.parameter_names) - set(params))
    extra = sorted(set(params) - set(graph.parameter_names))
    if missing or extra:
        raise InvalidArgument(
            f"params lacks {missing} and has unknown {extra}; give exactly the graph's parameters "
            f"{list(graph.parameter_names)}"
        )
    arrays = {}
    for p in graph.parameters:
        array = np.asarray(params[p.name])
        if array.shape != p.shape:
            raise InvalidArgument(
                f"params[{p.name!r}] has shape {array.shape}; the graph needs {p.shape}"
            )
        if array.dtype.kind not in "biuf" and array.dtype != object:
            raise InvalidArgument(
                f"params[{p.name!r}] has dtype {array.dtype}; give real numbers or SymPy values"
            )
        arrays[p.name] = array
    if all(a.dtype != object for a in arrays.values()):
        return _numeric_point(graph, arrays, name, "the given parameters")
    table: dict[sp.Expr, int] = {}
    codes = {
        p.name: (_intern_object if arrays[p.name].dtype == object else _intern_float)(
            arrays[p.name], table
        )
        for p in graph.parameters
    }
    values = tuple(sorted(table, key=table.__getitem__))
    return Point(name, "the given parameters", values, codes)


def init_point(
    graph: Graph,
    init: str | Mapping[str, object] | Point = "zero",
    *,
    value: object = None,
    seed: int = 0,
) -> Point:
    """The point of an init pattern of :data:`INITS`, of given parameters, or ``init`` itself."""
    if isinstance(init, Point):
        return init
    count = graph.parameter_count()
    if count > MAX_ENTRIES:
        raise InvalidArgument(
            f"the graph has {count} parameter entries; init points hold at most {MAX_ENTRIES} "
            "(one code each); use a smaller model"
        )
    if isinstance(init, Mapping):
        return given_point(graph, init)
    if init not in INITS:
        raise InvalidArgument(
            choices_message("init", init, INITS, "or give a mapping of parameter arrays")
        )
    if value is not None and init != "constant":
        raise InvalidArgument(
            f"value={value!r} is given for init={init!r}; only init='constant' takes a value"
        )
    return INITS[init](graph, value, seed)
