"""Framework-neutral parts of jrestore.metrics (see jrestore.core)."""
