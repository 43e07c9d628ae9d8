"""The jrestore model registry (names shared with torch_ref.models)."""
from jrestore.registry import Registry

MODELS = Registry("model")
register = MODELS.register
