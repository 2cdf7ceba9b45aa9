"""The provider registry: built-in provider classes and those of installed plugins, by name.

Built-ins are the `Provider` classes defined in the modules of this package (each module of
`reconciler.providers` may define one); third-party packages register theirs through the
entry-point group `reconciler.providers` (name -> "module:Class"), as octoDNS loads providers by
class. The core asks the classes found here and never compares provider names.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Iterator
from importlib import metadata

from reconciler.errors import ConfigError
from reconciler.providers.base import Provider

ENTRY_POINT_GROUP = "reconciler.providers"

# Modules of this package that hold shared machinery, not a provider (not imported to look).
_INFRASTRUCTURE = frozenset({"answers", "base", "env", "http", "registry", "retry", "upload"})

_lock = threading.Lock()
_classes: dict[str, type[Provider]] | None = None
_problems: list[str] = []
_generation = 0  # bumped by reset(): caches of what is derived from the registry key on it


def _builtins() -> Iterator[type[Provider]]:
    """The provider classes defined in this package's modules (each defines at most one)."""
    package = importlib.import_module("reconciler.providers")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _INFRASTRUCTURE or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Provider)
                and value.__module__ == module.__name__
                and isinstance(getattr(value, "name", None), str)
            ):
                yield value


def _plugins() -> Iterator[tuple[str, type[Provider] | str]]:
    """(entry-point name, class or why it cannot be loaded) for every registered plugin."""
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must not break the tool: say which and why
            yield entry.name, f"cannot be loaded from {entry.value}: {type(exc).__name__}: {exc}"
            continue
        if not (isinstance(loaded, type) and issubclass(loaded, Provider)):
            yield entry.name, f"{entry.value} is not a reconciler Provider class"
            continue
        yield entry.name, loaded


def _load() -> dict[str, type[Provider]]:
    global _classes
    with _lock:
        if _classes is not None:
            return _classes
        found: dict[str, type[Provider]] = {cls.name: cls for cls in _builtins()}
        for name, loaded in _plugins():
            if isinstance(loaded, str):
                _problems.append(f"provider plugin {name!r} {loaded}")
            elif name in found and found[name] is not loaded:
                _problems.append(f"provider plugin {name!r} ({loaded.__module__}) clashes with "
                                 f"{found[name].__module__}; the first one is used")
            elif loaded.name != name:
                _problems.append(f"provider plugin {name!r} names its class {loaded.name!r}; "
                                 "the entry-point name must equal the class's `name`")
            else:
                found[name] = loaded
        _classes = dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))
        return _classes


def reset() -> None:
    """Forget what was loaded (tests that install or register a plugin call this)."""
    global _classes, _generation
    with _lock:
        _classes = None
        _problems.clear()
        _generation += 1


def generation() -> int:
    """A number that changes whenever the registry is reset (a cache key for derived data)."""
    return _generation


def providers() -> dict[str, type[Provider]]:
    """Every registered provider class by name, built-ins first."""
    return dict(_load())


def builtins() -> dict[str, type[Provider]]:
    """The built-in provider classes by name (what the shipped JSON Schema is composed from)."""
    return {name: cls for name, cls in _load().items() if cls.__module__.startswith(f"{__package__}.")}


def names() -> tuple[str, ...]:
    """Every registered provider name, in listing order."""
    return tuple(_load())


def problems() -> list[str]:
    """Plugins that could not be registered, and why."""
    _load()
    return list(_problems)


def get(name: str) -> type[Provider]:
    """The class of provider `name`; ConfigError listing the known ones when there is none."""
    classes = _load()
    cls = classes.get(name)
    if cls is None:
        raise ConfigError(f"unknown provider {name!r}; expected one of {', '.join(classes)}")
    return cls


def find(name: str) -> type[Provider] | None:
    """The class of provider `name`, or None."""
    return _load().get(name)


def title(name: str) -> str:
    """How messages name provider `name` (its own name when it is not registered)."""
    cls = find(name)
    return cls.title if cls is not None else name
