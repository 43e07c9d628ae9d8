"""Loading torchvision VGG checkpoints into jrestore's VGG feature extractors.

Lives in convert, not in jrestore.models.vgg, so that models never import the converter (models sit below
convert in the import layers; see pyproject.toml's [tool.importlinter]).
"""
from __future__ import annotations

from typing import Mapping

from jrestore.convert.torch_state import load_torch_state_dict
from jrestore.models.vgg import VGG, torchvision_features

__all__ = ["load_torchvision_features"]


def load_torchvision_features(model: VGG, state_dict: Mapping, *, source: str = "torchvision VGG state dict") -> VGG:
    """Load a torchvision VGG16/19 state dict (e.g. torch.load('vgg19-dcbb9e9d.pth')) into `model`, in place.

    classifier.* keys are ignored; every features.* key must match (strict), else ConversionError.
    """
    return load_torch_state_dict(model, torchvision_features(state_dict, model.arch), source=source)
