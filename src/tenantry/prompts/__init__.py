"""The prompt registry: templates, versions, labels, the rendering sandbox, executions, quotas."""
