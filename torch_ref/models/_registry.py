"""The torch_ref model registry (names shared with jrestore.models)."""
from jrestore.registry import Registry

MODELS = Registry("model")
register = MODELS.register
