"""Framework-neutral parts of jrestore.layers (see jrestore.core)."""
