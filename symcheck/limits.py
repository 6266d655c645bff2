r"""The work limits of symcheck, in one table.

Every command and public function that could be asked for unbounded work
checks its input against :data:`LIMITS` **before** doing the work, and raises
:class:`~symcheck.errors.InvalidArgument` naming the limit, the value and the
fix. The command line turns that into one line on stderr and exit code 2.

===========================  ============  ==================================================
field                        default       bounds
===========================  ============  ==================================================
``width``                    1,000,000     neurons of one layer of a ``Network``
``parameters``               2e9           parameters of a ``Network`` (a description only)
``symbolic_batch``           8             samples of a symbolic proof (``--batch``)
``symbolic_parameters``      50,000        parameters of a network given to SymPy
``plain_parameters``         60            parameters on the plain ``sympy.diff`` path
``derive_parameters``        200           parameters whose formulas ``derive`` prints
``derive_nodes``             2,000         nodes of a graph whose derivation ``derive`` prints
``proof_cost``               2,048         the proof cost model :func:`proof_cost` (below)
``lumping_hidden_layers``    12            hidden layers of a lumping proof
``numeric_floats``           10,000,000    floats of one pass's activations: samples x sum(widths)
``numeric_parameters``       20,000,000    parameters of a network initialised numerically
``samples``                  1,000,000     ``samples`` of the numeric diagnosis
``train_floats``             50,000,000    recorded trajectory: (snapshots + 1) x parameters
``steps``                    1,000,000     steps of one :func:`~symcheck.measure.train.train` call
``train_flops``              5e9           training work: steps x (samples x parameters + 1e5)
``train_step_overhead``      100,000       the Python cost of one step, in multiply-adds
``plot_lines``               256           lines drawn in one panel (entries of ``W^l``)
``certificate_bytes``        20,000,000    size of a certificate file
``json_depth``               64            nesting of a certificate's arrays and objects
``json_digits``              64            digits of one number in a certificate
``seed``                     2**63 - 1     the largest ``--seed`` (seeds are >= 0)
``message_chars``            300           characters of one error line
``diff_iterations``          100           sweeps of weight matching over the unit spaces (``diff``)
``diff_width``               8,192         units of one space aligned by ``diff`` (its cost matrix)
``diff_work``                2e10          multiply-adds of one sweep of ``diff``'s weight matching
===========================  ============  ==================================================

The proof cost model. SymPy's work on the symbolic gradient grows
exponentially with the number of hidden layers, because each layer's
expression contains the previous layer's activation and the chain rule
multiplies them. The model is

.. math::

    \mathrm{cost} = B \prod_{l=1}^{L-1} g(\varphi_l)\, m_l,

with :math:`B` the batch, :math:`g` the growth factor of the activation's kind
(:data:`GROWTH`: 2 analytic, 3 the abstract :math:`\sigma`, 9 piecewise such
as relu) and :math:`m_l` the number of distinct neurons of hidden layer
:math:`l` at the init point (1 when the init ties them, :math:`n_l` at the
generic ``random`` point). A point without free symbols (``zero``, a rational
``constant``) costs :math:`B`.

The default limit 2,048 comes from two runs of ``python bench/proof_cost.py``
on a 2-core machine shared with other jobs (``prove``, width-2 nets, tanh
unless stated): tied 6.0-6.9 s at 10 hidden layers (cost 1,024), 6.3 s to
over 12 s at 11 (2,048), over 12 s at 12 (4,096); random 1.1-3.5 s at 5
(1,024), 7.1 s to over 12 s at 6 (4,096); tied relu 3.4-4.2 s at 3 (729),
11 s to over 12 s at 4 (6,561). The catalogue's ``3-4-4-2`` relu net at the
random point (cost 1,296) is admitted. The model does not see every
cost: the witness search of a tied net with 64 inputs and four hidden layers
of 64 (cost 16) is far slower than its cost says, which is why the command
line also has ``--timeout``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["GROWTH", "LIMITS", "Limits", "activation_kind", "elide", "proof_cost"]


@dataclass(frozen=True)
class Limits:
    """The work limits; see the module docstring for what each one bounds."""

    width: int = 1_000_000
    parameters: int = 2_000_000_000
    symbolic_batch: int = 8
    symbolic_parameters: int = 50_000
    plain_parameters: int = 60
    derive_parameters: int = 200
    derive_nodes: int = 2_000
    proof_cost: int = 2_048
    lumping_hidden_layers: int = 12
    numeric_floats: int = 10_000_000
    numeric_parameters: int = 20_000_000
    samples: int = 1_000_000
    train_floats: int = 50_000_000
    steps: int = 1_000_000
    train_flops: float = 5e9
    train_step_overhead: int = 100_000
    plot_lines: int = 256
    certificate_bytes: int = 20_000_000
    json_depth: int = 64
    json_digits: int = 64
    seed: int = 2**63 - 1
    message_chars: int = 300
    diff_iterations: int = 100
    diff_width: int = 8_192
    diff_work: float = 2e10


#: The limits in force.
LIMITS = Limits()

#: Growth factor of the proof cost per hidden layer, by activation kind.
GROWTH = {"analytic": 2, "abstract": 3, "piecewise": 9}


def activation_kind(activation: Any) -> str:
    """The :data:`GROWTH` key of an :class:`~symcheck.model.activations.Activation`."""
    if activation.abstract:
        return "abstract"
    return "analytic" if activation.analytic else "piecewise"


def proof_cost(*, factors: Sequence[int], batch: int) -> int:
    """The proof cost model of the module docstring: ``batch`` times the product of ``factors``.

    >>> proof_cost(factors=[2] * 10, batch=1)
    1024
    """
    product = batch
    for factor in factors:
        product *= factor
    return product


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the middle replaced by ``…[n]…``."""
    if len(text) <= limit:
        return text
    n = len(text)
    for _ in range(3):  # the marker's length depends on how much is cut
        keep = max(0, limit - len(f"…[{n}]…"))
        head = keep // 3  # the value is usually near the start, the fix at the end
        tail = keep - head
        n = len(text) - head - tail
    return text[:head] + f"…[{n}]…" + (text[len(text) - tail :] if tail else "")


def elide(text: str, limit: int | None = None) -> str:
    """``text`` on one line of at most ``limit`` characters (``LIMITS.message_chars``).

    Every word longer than a third of the limit (an echoed value) is cut in
    its middle first, so the words around it (what is wrong, the fix) stay;
    then the line itself, if still too long.

    >>> elide("bad " + "x" * 50 + " use 2-2-1", 30)
    'bad x…[46]…xxx use 2-2-1'
    """
    limit = LIMITS.message_chars if limit is None else limit
    words = " ".join(text.splitlines()).split(" ")
    line = " ".join(_cut(word, limit // 3) for word in words)
    return _cut(line, limit)
