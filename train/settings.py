"""The one way train/ reads a setting: `get(cfg, "data.patch_size", default)`.

A config section is a dict or an ml_collections ConfigDict; the key may be dotted. None and "" mean unset
(the base config holds path="" and names=None for settings a source does not need), so `default` comes back.
"""
from __future__ import annotations

__all__ = ["get"]


def get(cfg, key: str, default=None):
    """cfg[key] (dotted keys walk nested sections); `default` when a part is missing or the value is None/""."""
    value = cfg
    for part in key.split("."):
        if not hasattr(value, "get"):
            return default
        value = value.get(part, None)
    return default if value is None or (isinstance(value, str) and not value) else value
