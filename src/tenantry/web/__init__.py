"""The UI shell: layout templates, static assets, CSRF, flash messages, shared form helpers."""
