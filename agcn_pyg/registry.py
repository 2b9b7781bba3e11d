"""A small name -> object registry, the pattern behind every pluggable part of agcn_pyg."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from agcn_pyg.errors import ConfigError

T = TypeVar("T")


class RegistryError(ConfigError):
    """An unknown or duplicate name; the message lists the valid choices (a `ConfigError`,
    so the command line prints it as one line)."""


class Registry(Generic[T]):
    """Maps names to objects (classes, factories, specs) and resolves them by string.

    >>> GRAPHS = Registry("label graph")
    >>> @GRAPHS.register("conv")
    ... class ConvGraph: ...
    >>> GRAPHS.get("conv") is ConvGraph
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        key = name.lower()
        if key in self._items:
            raise RegistryError(f"{self.kind} {name!r} is already registered")
        self._items[key] = obj

    def get(self, name: str) -> T:
        key = str(name).lower()
        if key not in self._items:
            raise RegistryError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            )
        return self._items[key]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
