"""A tiny name -> constructor registry, shared by jrestore and torch_ref (framework-free).

Registration of a duplicate name is an error; `get` rejects unknown names and unknown constructor
arguments with a ValueError listing the valid ones.
"""
from __future__ import annotations

import inspect
from typing import Callable

__all__ = ["Registry"]


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Callable] = {}

    def register(self, name: str) -> Callable:
        def deco(obj):
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj
        return deco

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def lookup(self, name: str) -> Callable:
        if name not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")
        return self._items[name]

    def name_of(self, obj) -> str:
        """The name `obj`'s class (exactly, not a parent) is registered under; ValueError when none is."""
        for name, item in self._items.items():
            if type(obj) is item:
                return name
        raise ValueError(f"{type(obj).__name__} is not a registered {self.kind}; registered: {', '.join(self.names())}")

    def arguments(self, name: str) -> list[str]:
        """Constructor argument names (keyword-settable, excluding framework plumbing such as `rngs`)."""
        obj = self.lookup(name)
        # an nnx.Module class reports its metaclass's (*args, **kwargs): read __init__ instead
        sig = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
        return [p for p, v in sig.parameters.items()
                if p not in ("self", "rngs") and v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)]

    def resolve(self, name: str, kwargs: dict) -> dict:
        """`kwargs` completed with the constructor's defaults (what the built object will hold)."""
        obj = self.lookup(name)
        sig = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
        defaults = {p: v.default for p, v in sig.parameters.items()
                    if p in self.arguments(name) and v.default is not inspect.Parameter.empty}
        return {**defaults, **kwargs}

    def get(self, name: str, **kwargs):
        factory = self.lookup(name)
        valid = self.arguments(name)
        unknown = [k for k in kwargs if k not in valid and k != "rngs"]
        if unknown:
            raise ValueError(f"{self.kind} {name!r} got unknown argument(s) {unknown}; valid: {valid}")
        return factory(**kwargs)
