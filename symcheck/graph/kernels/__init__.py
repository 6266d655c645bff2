"""Forward and backward kernels of every graph operation, one family a module.

Every kernel is written once against a :class:`~symcheck.graph.backend.Backend`
``xp`` and so runs on NumPy arrays (float64 or complex, for complex-step
checks) and on SymPy object arrays (exact, for the computational proofs).

Conventions, the same in every family module:

* ``<op>_forward(xp, *arrays, **attrs) -> (out, cache)``: the arrays are the
  op's tensor inputs followed by its parameters, in the order the op's table
  entry lists; ``attrs`` are keyword-only Python values (ints, bools, strings,
  exact rationals); ``cache`` is whatever the backward pass needs.
* ``<op>_backward(xp, cache, grad_out) -> tuple``: the gradient of a scalar
  with respect to each array given to the forward pass, in the same order, each
  with that array's shape (``None`` for an integer input such as token ids).
  A backward kernel that can skip work takes the keyword
  ``wanted: tuple[bool, ...] | None`` (one flag per array; ``None`` = all)
  and returns ``None`` for an array not wanted; the interpreter passes it
  to kernels whose signature has it.
* Tensors are batch-first: axis 0 is the sample axis.
"""
