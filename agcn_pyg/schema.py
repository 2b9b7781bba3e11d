"""Config fields that carry their own rules.

A config dataclass declares each field once, with its type, default, rules and docstring::

    @dataclass
    class TrainConfig(Section):
        lr: float = setting(0.01, POSITIVE)
        \"\"\"The head's learning rate.\"\"\"

`Section.__post_init__` runs every field's rules in declaration order, so a config that
exists has met its schema: YAML, ``key=value`` overrides, ``dataclasses.replace`` and code
all go through it. A failing rule is one `ConfigError` line naming the dotted key (``section``
is the prefix the section sits under in a `RunConfig`), what is allowed, and the value, whose
quote is capped (`brief`): a huge value never floods a terminal.

Rules see the fields before theirs: a rule of ``data.resize_size`` may read
``data.image_size``, since that one passed.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import reprlib
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any, ClassVar

from agcn_pyg.errors import ConfigError

#: how much of a value an error line quotes
QUOTE_LIMIT = 120

_quote = reprlib.Repr()
_quote.maxstring = QUOTE_LIMIT
_quote.maxother = QUOTE_LIMIT
_quote.maxlist = _quote.maxdict = _quote.maxtuple = _quote.maxset = 8
_quote.maxlevel = 3


def brief(value: object) -> str:
    """``repr(value)``, shortened to about `QUOTE_LIMIT` characters (nested containers and long
    strings are elided with ``...``)."""
    text = _quote.repr(value)
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 3] + "..."


def did_you_mean(value: object, names: Iterable[str]) -> str:
    """``"; did you mean 'resnet10t'?"`` for the names closest to a mistyped ``value``
    (`difflib.get_close_matches`, at most three), or ``""`` when none is close."""
    if not isinstance(value, str):
        return ""
    by_folded = {name.casefold(): name for name in names}  # ``GAT`` is close to ``gat``
    close = difflib.get_close_matches(value.casefold()[:200], list(by_folded), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(by_folded[c]) for c in close)}?" if close else ""


@dataclass(frozen=True)
class Rule:
    """One condition on a field: ``ok(value)`` (or ``ok(value, section)`` when ``relational``)
    must hold; ``expected`` says what is allowed (text, or a function of the section for a
    relational rule, or of nothing for one whose choices are read when it runs); ``hint``,
    where given, adds to the message what the value was probably meant to be."""

    ok: Callable[..., bool]
    expected: str | Callable[..., str]
    relational: bool = False
    hint: Callable[[Any], str] | None = None

    def check(self, key: str, value: Any, section: Any) -> None:
        holds = self.ok(value, section) if self.relational else self.ok(value)
        if not holds:
            hint = self.hint(value) if self.hint is not None else ""
            raise ConfigError(f"{key}: expected {self.describe(section)}, got {brief(value)}{hint}")

    def describe(self, section: Any = None) -> str:
        if isinstance(self.expected, str):
            return self.expected
        return self.expected(section) if self.relational else self.expected()


@dataclass(frozen=True)
class Custom:
    """A rule that raises its own `ConfigError` (``fn(key, value, section)``): for checks whose
    message comes from elsewhere, such as a callable's signature or timm."""

    fn: Callable[[str, Any, Any], None]

    def check(self, key: str, value: Any, section: Any) -> None:
        self.fn(key, value, section)


Check = Rule | Custom


def setting(
    default: Any = MISSING,
    *rules: Check,
    factory: Callable[[], Any] | None = None,
    booleans: tuple[str, str] | None = None,
) -> Any:
    """A dataclass field with ``default`` (or ``factory``) and ``rules``.

    ``booleans`` (``(for_true, for_false)``) is what an unquoted YAML ``on``/``yes``/``true``
    and ``off``/``no``/``false`` mean for a field whose values are words: YAML 1.1 reads them
    as booleans, so ``amp: off`` arrives as ``False`` (`from_booleans`)."""
    metadata = {"rules": rules, "booleans": booleans}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def from_booleans(field: dataclasses.Field[Any], value: Any) -> Any:
    """``value`` as the word that YAML's boolean stands for in ``field`` (its ``booleans``),
    or unchanged."""
    words = field.metadata.get("booleans")
    if words is None or not isinstance(value, bool):
        return value
    return words[0] if value else words[1]


class Section:
    """Base of the config dataclasses: validates on construction (`validate`)."""

    #: the dotted prefix of this section's keys in a run config (``"model."``)
    section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        validate(self)


def validate(obj: Any, prefix: str | None = None) -> None:
    """Run the rules of every field of the dataclass ``obj``, and of nested sections."""
    prefix = getattr(obj, "section", "") if prefix is None else prefix
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        key = f"{prefix}{field.name}"
        for rule in field.metadata.get("rules", ()):
            rule.check(key, value, obj)
        if isinstance(value, Section):
            validate(value, f"{key}.")


def rules_of(cls: type) -> dict[str, tuple[Check, ...]]:
    """``{field: rules}`` of a config dataclass (for documentation and tests)."""
    return {f.name: tuple(f.metadata.get("rules", ())) for f in dataclasses.fields(cls)}


# --- the common rules ------------------------------------------------------------------------


def is_int(value: object) -> bool:
    """An int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: object) -> bool:
    return is_number(value) and math.isfinite(value)  # type: ignore[arg-type]


def int_at_least(low: int) -> Rule:
    return Rule(lambda v: is_int(v) and v >= low, f"an int ≥ {low}")


def int_between(low: int, high: int) -> Rule:
    return Rule(lambda v: is_int(v) and low <= v <= high, f"an int in [{low}, {high}]")


def optional(rule: Rule, expected: str | None = None) -> Rule:
    """``rule`` or ``None``; says ``null or <rule>`` unless ``expected`` is given."""
    return Rule(
        lambda v: v is None or rule.ok(v),
        expected or f"null or {rule.describe()}",
    )


def one_of(choices: Collection[str] | Callable[[], Iterable[str]]) -> Rule:
    """A name among ``choices``, or among what a function (a registry's ``names``) returns when
    the rule runs, so that names registered later count."""
    names: Callable[[], list[str]] = (
        (lambda: list(choices())) if callable(choices) else (lambda: list(choices))
    )
    return Rule(
        lambda v: isinstance(v, str) and v in names(),
        lambda: f"one of {names()}",
        hint=lambda v: did_you_mean(v, names()),
    )


FINITE = Rule(_finite, "a finite number")
POSITIVE = Rule(lambda v: _finite(v) and v > 0, "a finite number > 0")
NON_NEGATIVE = Rule(lambda v: _finite(v) and v >= 0, "a finite number ≥ 0")
PROBABILITY = Rule(lambda v: _finite(v) and 0 <= v <= 1, "a probability in [0, 1]")
BOOL = Rule(lambda v: isinstance(v, bool), "true or false")
NONEMPTY = Rule(lambda v: isinstance(v, str) and v != "", "a non-empty string")
MAPPING = Rule(lambda v: isinstance(v, dict), "a mapping")
SEED = Rule(lambda v: is_int(v) and 0 <= v < 2**63, "an int in [0, 2**63)")


# --- types -----------------------------------------------------------------------------------


def coerce(value: Any, hint: Any, path: str) -> Any:
    """Check ``value`` against a field's type; YAML's ``1e-3`` (a string in YAML 1.1) → float."""
    args = (
        typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    )
    options = args or (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{path}: a value is required")
    for option in options:
        origin = typing.get_origin(option) or option
        if origin is bool and isinstance(value, bool):
            return value
        if origin is int and is_int(value):
            return value
        if origin is float and is_number(value):
            return float(value)
        if origin is str and isinstance(value, str):
            return value
        if origin in (dict, list) and isinstance(value, origin):
            return value
    if float in options and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    quote = (
        " (YAML reads an unquoted on, off, yes or no as a boolean: quote the word, e.g. 'no')"
        if isinstance(value, bool) and str in options
        else ""
    )
    raise ConfigError(f"{path}: expected {names}, got {brief(value)}{quote}")


#: parameter types whose values `check_option_types` checks (anything else is left to the
#: callee: paths, sequences, callables)
_PLAIN_TYPES = (bool, int, float, str, type(None))


def check_option_types(key: str, fn: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Each of ``options`` whose parameter of ``fn`` is annotated with plain types only
    (``float``, ``int | None``, ``str``, ``bool``) must be a value of one of them, as a config
    field would (`coerce`); YAML's ``1e-3`` string becomes a float in place. A ``Literal``
    annotation is the parameter's list of choices (a builder declares them once, there)."""
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):  # annotations that do not resolve: nothing to compare with
        return
    params = inspect.signature(fn).parameters
    for name, value in options.items():
        hint = hints.get(name)
        if name not in params or hint is None:
            continue
        if typing.get_origin(hint) is typing.Literal:
            if value not in typing.get_args(hint):
                choices = list(typing.get_args(hint))
                raise ConfigError(f"{key}.{name}: expected one of {choices}, got {brief(value)}")
            continue
        args = typing.get_args(hint) or (hint,)
        if all(arg in _PLAIN_TYPES for arg in args):
            coerced = coerce(value, hint, f"{key}.{name}")
            if isinstance(options, dict):
                options[name] = coerced
