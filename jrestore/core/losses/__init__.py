"""Framework-neutral parts of jrestore.losses (see jrestore.core)."""
