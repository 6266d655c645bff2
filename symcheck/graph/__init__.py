"""The computation-graph model of a network (any architecture).

Sub-modules, one idea each:

* :mod:`symcheck.graph.backend` — the two array backends every kernel runs on
  (NumPy float64/complex and SymPy object arrays);
* :mod:`symcheck.graph.kernels` — forward and backward (vector-Jacobian
  product) of every operation, written once, generic over a backend;
* :mod:`symcheck.graph.ir` — the immutable graph (inputs, parameters, nodes,
  output, loss) and :class:`~symcheck.graph.ir.GraphBuilder`;
  :mod:`symcheck.graph.validate` checks it and infers shapes;
* :mod:`symcheck.graph.ops` — the op table: per op its kernels, arity,
  parameter roles, attributes, shape rule and symmetry rule;
* :mod:`symcheck.graph.unionfind` and :mod:`symcheck.graph.symmetry` — the
  inferred unit spaces (union-find over factored axes) and
  :func:`~symcheck.graph.symmetry.apply_permutation`;
* :mod:`symcheck.graph.evaluate` — the numeric interpreter (forward, reverse
  mode); :mod:`symcheck.graph.sample` — random points;
  :mod:`symcheck.graph.confirm` — the invariance, tie and separation checks;
  :mod:`symcheck.graph.gradcheck` — directional complex-step and
  central-difference checks and exact (SymPy) gradients;
  :mod:`symcheck.graph.train` — full-batch training with an optimiser of
  :mod:`symcheck.measure.optim`;
* :mod:`symcheck.graph.zoo`, :mod:`symcheck.graph.graphfile` — standard
  models, the JSON graph file and ``resolve_model``;
* :mod:`symcheck.graph.strategies` — Hypothesis strategies for graphs.

Documentation: ``docs/graph.md``.
"""
