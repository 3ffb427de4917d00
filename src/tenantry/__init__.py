"""Tenantry: a self-hostable, multi-tenant data and analytics platform."""

__version__ = "0.1.0"
