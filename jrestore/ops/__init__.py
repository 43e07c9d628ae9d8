"""jrestore.ops."""
