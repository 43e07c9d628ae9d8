"""Parity cases for every registered model: one module per model family, merged here.

Each family module defines `CASES = {registry_name: ModelCase(...)}`.
"""
from jrestore.parity.cases import cs, denoise, sr, wasa_vgg
from jrestore.parity.model_parity import ModelCase

CASES: dict[str, ModelCase] = {}
# Family modules are imported explicitly as they land:
for _module in (cs, denoise, sr, wasa_vgg):
    overlap = CASES.keys() & _module.CASES.keys()
    assert not overlap, f"duplicate parity cases {overlap}"
    CASES.update(_module.CASES)
