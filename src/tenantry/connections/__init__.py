"""Connections: where an organization's data comes from and goes to, one module per kind."""
