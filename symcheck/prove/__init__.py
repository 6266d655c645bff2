"""Prove (SymPy): the symmetry theorems, exactly.

Symbolic gradients of the fully connected model, the theorems T1, T2, T4 and
lumping (T3) as :class:`~symcheck.prove.proof.Proof` records, derivations and
their rendering, checkable certificates, exact zero tests and witnesses,
exact tie classes and equitable partitions with their certificates, and the
exact gradient oracle. Graph proofs are in :mod:`symcheck.graph.prove`.
"""
