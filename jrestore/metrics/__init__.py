"""jrestore.metrics."""
