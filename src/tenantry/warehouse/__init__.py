"""Each organization's warehouse: resolve and open it, serialize writers, guard read-only SQL."""
