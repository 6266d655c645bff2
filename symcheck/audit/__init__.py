"""Audit: what weight files say about ties, dead units and effective width.

:mod:`~symcheck.audit.weights` loads weight files from strangers safely;
:mod:`~symcheck.audit.file` audits one file (a chain of dense layers;
observations unless the architecture is asserted). This package offers the
names :mod:`symcheck.audit` offered when it was one module: those of
:mod:`symcheck.audit.file`. Checkpoints of other architectures are audited
per unit space by :mod:`symcheck.checkpoint`.
"""

from __future__ import annotations

from symcheck.audit.file import (
    ARCHITECTURES,
    FORMATS,
    SCHEMA_VERSION,
    AuditReport,
    LayerAudit,
    MatrixAudit,
    audit_file,
    audit_params,
    audit_weights,
    infer_chain,
    near_tie_threshold,
    render_audit,
)

__all__ = [
    "ARCHITECTURES",
    "FORMATS",
    "SCHEMA_VERSION",
    "AuditReport",
    "LayerAudit",
    "MatrixAudit",
    "audit_file",
    "audit_params",
    "audit_weights",
    "infer_chain",
    "near_tie_threshold",
    "render_audit",
]
