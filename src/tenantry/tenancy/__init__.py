"""Organizations, users, memberships, roles, API keys, invitations, audit log and auth flows."""
