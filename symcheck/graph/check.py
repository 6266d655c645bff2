"""Re-derive one graph proof of a certificate from its recipe (``symcheck check``).

``symcheck prove MODEL --format json`` and ``symcheck prove-graph MODEL
--format json`` write, for a zoo model, a graph file or (``prove-graph``) a
chain spec, proofs whose ``facts["recipe"]`` is the one
:mod:`symcheck.graph.prove` records:

* ``identical_updates``: ``theorem``, ``model``, ``init``, ``value``,
  ``seed``, ``optimizer`` (null), ``kind``;
* ``preserved``: the same keys, ``optimizer`` a name;
* ``symmetry_breaks``: ``theorem``, ``model``, ``seed``.

:func:`rederive_graph_proof` validates the recipe strictly (exact key sets,
types, names from the registries, the seed bound of ``LIMITS.seed``) and
re-runs the theorem; :func:`symcheck.prove.certificate.verify_certificate` then
compares the whole re-derived record with the recorded one (verdict,
residuals, witness, facts). Nothing is evaluated: ``model`` is resolved by
:func:`symcheck.graph.zoo.resolve_model` like a command-line spec (a graph
file is read with its size and nesting limits, relative to the current
directory, as ``prove`` read it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from symcheck.errors import InvalidArgument
from symcheck.graph.points import INITS
from symcheck.graph.prove import KINDS, THEOREMS
from symcheck.limits import LIMITS
from symcheck.model.optimizers import SYMBOLIC_OPTIMIZERS
from symcheck.prove.proof import Proof

__all__ = [
    "API_GRAPH_NAME",
    "GRAPH_RECIPE_KEYS",
    "MAX_MODEL_CHARS",
    "is_graph_recipe",
    "rederive_graph_proof",
]

_COMMON = {"theorem", "model", "init", "value", "seed", "optimizer", "kind"}

#: Theorem -> the exact keys of its graph recipe.
GRAPH_RECIPE_KEYS: dict[str, frozenset[str]] = {
    "identical_updates": frozenset(_COMMON),
    "preserved": frozenset(_COMMON),
    "symmetry_breaks": frozenset({"theorem", "model", "seed"}),
}

#: The model name :func:`symcheck.graph.ties.resolve_graph` gives a ``Graph`` object.
API_GRAPH_NAME = "graph"

#: Longest model spec or graph-file path in a recipe.
MAX_MODEL_CHARS = 4096


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidArgument(f"malformed certificate: {message}")


def is_graph_recipe(recipe: Mapping[str, Any]) -> bool:
    """Does the recipe describe a graph proof (a ``model``, not a chain ``network``)?"""
    return "model" in recipe and "network" not in recipe


def _seed(recipe: Mapping[str, Any]) -> int:
    seed = recipe["seed"]
    _require(
        type(seed) is int and 0 <= seed <= LIMITS.seed,
        f"recipe.seed={seed!r} must be an int from 0 to {LIMITS.seed}",
    )
    return seed


def rederive_graph_proof(recipe: Mapping[str, Any]) -> Proof:
    """Validate a graph recipe and re-run its theorem (see the module docstring)."""
    theorem = recipe.get("theorem")
    _require(
        theorem in GRAPH_RECIPE_KEYS,
        f"recipe.theorem={theorem!r} is not a graph theorem; use one of "
        f"{sorted(GRAPH_RECIPE_KEYS)}",
    )
    keys = GRAPH_RECIPE_KEYS[theorem]
    _require(set(recipe) == keys, f"a {theorem} graph recipe has exactly the keys {sorted(keys)}")
    model = recipe["model"]
    _require(
        isinstance(model, str) and 0 < len(model) <= MAX_MODEL_CHARS,
        f"recipe.model must be a model spec or graph-file path of 1 to {MAX_MODEL_CHARS} "
        "characters",
    )
    _require(
        model != API_GRAPH_NAME or Path(model).is_file(),
        f"recipe.model={API_GRAPH_NAME!r} names a Graph object given to the Python API, which "
        "cannot be re-derived; write it with Graph.to_json to a .json file and prove the file",
    )
    seed = _seed(recipe)
    if theorem == "symmetry_breaks":
        return THEOREMS[theorem](model, seed=seed)
    init, value, kind, optimizer = (recipe[k] for k in ("init", "value", "kind", "optimizer"))
    _require(init in INITS, f"recipe.init={init!r} must be one of {sorted(INITS)}")
    _require(value is None or isinstance(value, str), "recipe.value must be a string or null")
    _require(kind in KINDS, f"recipe.kind={kind!r} must be one of {list(KINDS)}")
    kwargs: dict[str, Any] = {"init": init, "value": value, "seed": seed, "kind": kind}
    if theorem == "preserved":
        _require(
            optimizer in SYMBOLIC_OPTIMIZERS,
            f"recipe.optimizer={optimizer!r} must be one of {sorted(SYMBOLIC_OPTIMIZERS)}",
        )
        kwargs["optimizer"] = optimizer
    else:
        _require(optimizer is None, "recipe.optimizer must be null for identical_updates")
    return THEOREMS[theorem](model, **kwargs)
