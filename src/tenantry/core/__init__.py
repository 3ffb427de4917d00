"""Shared primitives: configuration, database, errors, security, logging. Imports no domain."""
