"""Weight conversion between PyTorch state dicts and jrestore models."""
from jrestore.convert.torch_state import ConversionError, load_torch_state_dict, to_numpy, torch_state_dict
from jrestore.convert.torchvision import load_torchvision_features

__all__ = ["ConversionError", "load_torch_state_dict", "load_torchvision_features", "to_numpy", "torch_state_dict"]
