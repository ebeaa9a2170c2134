"""Catalogue loading, column roles and validation."""

from mmshop.data.catalog import Catalog, seeded_split
from mmshop.data.roles import ColumnRoles, infer_roles
from mmshop.data.validation import Issue, ValidationReport

__all__ = ["Catalog", "ColumnRoles", "Issue", "ValidationReport", "infer_roles", "seeded_split"]
