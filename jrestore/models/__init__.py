"""jrestore.models."""
