"""dlt pipelines: a source connection, a destination (by default the warehouse), a spec."""
