"""Framework-neutral parts of jrestore.models (see jrestore.core)."""
