"""jrestore.data."""
