"""Framework-neutral parts of jrestore.ops (see jrestore.core)."""
