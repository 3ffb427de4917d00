"""Transformations: dbt models and snapshots kept in the store, run per organization."""
