"""Weight conversion between PyTorch state dicts and jrestore models."""
from jrestore.convert.torch_state import ConversionError, load_torch_state_dict, to_numpy, torch_state_dict

__all__ = ["ConversionError", "load_torch_state_dict", "to_numpy", "torch_state_dict"]
