"""A small name -> object registry, the pattern behind every pluggable part of agcn_pyg."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Generic, TypeVar

from agcn_pyg.errors import ConfigError
from agcn_pyg.schema import brief, did_you_mean

T = TypeVar("T")


class RegistryError(ConfigError):
    """An unknown or duplicate name, or an option a registered callable does not take; the
    message lists the valid choices (a `ConfigError`, so the command line prints it as one
    line and exits with status 2)."""


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

    def get(self, name: str, field: str | None = None) -> T:
        """The object registered as ``name`` (case-insensitive).

        Args:
            name: the registered name.
            field: the config key ``name`` came from (``data.difficult``), where the caller
                knows it; the error then starts with it.
        """
        key = str(name).lower() if isinstance(name, str) else None
        if key not in self._items:
            hint = did_you_mean(key, self.names())
            if field is not None:
                raise RegistryError(
                    f"{field}: expected one of {self.names()}, got {brief(name)} "
                    f"(unknown {self.kind}){hint}"
                )
            raise RegistryError(
                f"unknown {self.kind} {brief(name)}; choose one of: {', '.join(self.names())}{hint}"
            )
        return self._items[key]

    def check_options(
        self,
        name: str,
        options: Mapping[str, Any],
        field: str | None = None,
        positional: int = 0,
        reserved: Collection[str] = (),
    ) -> None:
        """Check that keyword ``options`` bind to the signature of the callable registered as
        ``name``, before it is called: a wrong option is named here, and a `TypeError` from
        inside the call is never mistaken for one.

        Args:
            name: the registered callable.
            options: the keyword arguments it will be called with.
            field: the config key ``options`` came from (``train.loss_kwargs``); the error
                then names ``<field>.<option>``.
            positional: how many leading parameters the caller fills positionally (those
                cannot also be options).
            reserved: parameters the caller sets itself, refused as options.

        Raises:
            RegistryError: naming the first option (sorted) the callable does not take.
        """
        fn = self.get(name, field)
        params = list(inspect.signature(fn).parameters.values())
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return
        keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        taken = [p.name for p in params[positional:] if p.kind in keyword]
        allowed = [n for n in taken if n not in reserved]
        for option in sorted(options):
            if option not in allowed:
                what = f"{self.kind} {name!r}"
                listed = ", ".join(allowed) or "none"
                if field is not None:
                    message = f"{field}.{option}: {what} takes no {option!r}; it takes: {listed}"
                else:
                    message = f"{what}: unexpected keyword {option!r}; it takes: {listed}"
                raise RegistryError(message)

    def names(self) -> list[str]:
        return sorted(self._items)

    def registered(self) -> list[str]:
        """The names in the order they were registered."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
