"""The `tenantry` command line."""
