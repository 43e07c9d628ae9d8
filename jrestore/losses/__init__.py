"""jrestore.losses."""
