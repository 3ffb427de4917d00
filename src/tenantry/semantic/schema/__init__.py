"""The data model: Cube-compatible YAML files → one validated, immutable ``DataModel``."""

from tenantry.semantic.schema.build import build_model
from tenantry.semantic.schema.errors import ModelError, ModelInvalid
from tenantry.semantic.schema.model import (
    AccessPolicy,
    Cube,
    DataModel,
    Dimension,
    Join,
    Measure,
    PreAggregation,
    Segment,
    View,
    ViewMember,
)

__all__ = [
    "AccessPolicy",
    "Cube",
    "DataModel",
    "Dimension",
    "Join",
    "Measure",
    "ModelError",
    "ModelInvalid",
    "PreAggregation",
    "Segment",
    "View",
    "ViewMember",
    "build_model",
]
