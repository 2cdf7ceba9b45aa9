"""YAML with a line and column for every node, and duplicate keys as errors.

`load_yaml(text, file)` returns the document as plain Python data plus a map from each node's path
(`("audiences", "vip", "source")`) to where it was written, so later checks can point at the line.
Every syntax problem becomes a located `Problem` inside a `ConfigError`; nothing else escapes.

Deliberate differences from `yaml.safe_load`:
- mapping keys are always the text as written (`2024:` is the key "2024", `no:` is "no");
- only `true`/`false` are booleans (YAML 1.2), so a region like `NO` (Norway) stays text;
- duplicate keys are errors instead of silently keeping the last one;
- merge keys (`<<: *anchor`) are supported, explicit keys win over merged ones;
- alias expansion and nesting are bounded, so a hostile file cannot exhaust memory or the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.errors import ConfigError, Problem

PathKey = tuple[str | int, ...]

MAX_NODES = 100_000  # nodes after alias expansion
MAX_DEPTH = 64

_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


# libyaml's parser when PyYAML was built with it (about 10x faster), else the pure-Python one.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader whose booleans are only true/false (YAML 1.2 core schema)."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class-level registry
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class Mark(NamedTuple):
    """A 1-based line and column (a tuple: one is made for every node of the declaration)."""

    line: int
    col: int


@dataclass
class YamlDocument:
    """Plain data plus where each node (and each mapping key) was written."""

    data: Any
    values: dict[PathKey, Mark] = field(default_factory=dict)
    keys: dict[PathKey, Mark] = field(default_factory=dict)
    plain: set[PathKey] = field(default_factory=set)  # scalars written without quotes
    problems: list[Problem] = field(default_factory=list)  # non-fatal: duplicate keys, bad tags

    def where(self, path: PathKey) -> Mark:
        """Where the value at `path` starts; the nearest written ancestor when it is absent."""
        for end in range(len(path), -1, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return Mark(1, 1)

    def key_where(self, path: PathKey) -> Mark:
        """Where the key of the entry at `path` was written (its value's position as fallback)."""
        return self.keys.get(path) or self.where(path)


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _position(text: str, index: int) -> Mark:
    """1-based line/column of character `index` in `text`."""
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return Mark(line, col)


class _Converter:
    """Turns a composed node tree into plain data, recording marks and problems."""

    def __init__(self, loader: _Loader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.doc = YamlDocument(data=None)
        self.problems: list[Problem] = []
        self.nodes = 0

    def problem(self, mark: Mark, message: str) -> None:
        self.problems.append(Problem(self.file, mark.line, mark.col, message))

    def convert(self, node: Node, path: PathKey, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"the document expands to more than {MAX_NODES:,} nodes (too many aliases?)")
        if depth > MAX_DEPTH:
            raise _TooBig(f"the document is nested more than {MAX_DEPTH} levels deep (a recursive alias?)")
        self.doc.values[path] = _mark(node)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if node.tag not in _COLLECTION_TAGS:
            self.problem(_mark(node), f"unsupported YAML tag {node.tag}; remove it")
        if isinstance(node, SequenceNode):
            return [self.convert(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        return None  # pragma: no cover - the composer makes only the three node kinds

    def _scalar(self, node: ScalarNode, path: PathKey) -> Any:
        if not node.style:  # None (pure-Python parser) or "" (libyaml) for plain scalars
            self.doc.plain.add(path)
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            detail = getattr(exc, "problem", None) or "cannot be read"
            self.problem(_mark(node), f"invalid value: {detail}; quote it to use it as text")
            return node.value

    def _mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges: list[Node] = []
        seen: dict[str, Mark] = {}
        explicit: list[tuple[str, Node, Mark]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(_mark(key_node), "a key must be plain text, not a list or mapping")
                continue
            key = str(key_node.value)
            first = seen.get(key)
            if first is not None:
                self.problem(
                    _mark(key_node),
                    f"duplicate key '{key}' (first written at {first.line}:{first.col}); keep only one",
                )
                continue
            seen[key] = _mark(key_node)
            explicit.append((key, value_node, _mark(key_node)))
        for merged in self._merge_sources(merges):  # earlier sources win, so apply them last
            value = self.convert(merged, path, depth + 1)
            if isinstance(value, dict):
                result.update(value)
        self.doc.values[path] = _mark(node)
        for key, value_node, key_mark in explicit:
            self.doc.keys[(*path, key)] = key_mark
            result[key] = self.convert(value_node, (*path, key), depth + 1)
        return result

    def _merge_sources(self, merges: list[Node]) -> list[Node]:
        sources: list[Node] = []
        for merge in merges:
            items = merge.value if isinstance(merge, SequenceNode) else [merge]
            for item in items:
                if isinstance(item, MappingNode):
                    sources.append(item)
                else:
                    self.problem(_mark(item), "a merge key (<<) takes a mapping or a list of mappings")
        return list(reversed(sources))


_READER_MESSAGE = "the file contains a control character YAML does not allow; remove it"


class _TooBig(Exception):
    """The document exceeds MAX_NODES or MAX_DEPTH."""


def decode(data: bytes, file: str) -> str:
    """The config bytes as text (UTF-8, optional BOM); ConfigError naming the line otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = _position(data[: exc.start].decode("utf-8-sig", "replace"), exc.start)
        problem = Problem(file, where.line, where.col, "not valid UTF-8 text; save the file as UTF-8")
        raise ConfigError(f"{file} cannot be read", problems=[problem]) from None


_last: tuple[str, str, YamlDocument] | None = None  # (file, text, document) of the last parse


def load_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document with marks.

    Syntax errors raise ConfigError (located); mistakes that still leave a usable document
    (duplicate keys, unsupported tags, unreadable scalars) are listed in `problems`. The last
    document parsed is kept and returned again for the same file and text (a command reads the
    declaration's `state:` section, then the whole declaration: one parse); callers must not
    modify it."""
    global _last
    if _last is not None and _last[0] == file and _last[1] == text:
        return _last[2]
    doc = _parse(text, file)
    _last = (file, text, doc)
    return doc


def _parse(text: str, file: str) -> YamlDocument:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise _syntax(file, _position(text, exc.position), _READER_MESSAGE) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
            message = ": ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
            raise _syntax(file, where, f"YAML syntax error: {message}") from None
        except yaml.reader.ReaderError as exc:
            where = _position(text, exc.position)
            raise _syntax(file, where, _READER_MESSAGE) from None
        except yaml.YAMLError as exc:
            raise _syntax(file, Mark(1, 1), f"YAML syntax error: {exc}") from None
        except RecursionError:
            raise _syntax(file, Mark(1, 1), "the document is nested too deeply") from None
        converter = _Converter(loader, file)
        if node is None:
            return converter.doc
        try:
            converter.doc.data = converter.convert(node, ())
        except _TooBig as exc:
            raise _syntax(file, _mark(node), str(exc)) from None
    finally:
        loader.dispose()
    converter.doc.problems = _unique(converter.problems)
    return converter.doc


def _syntax(file: str, where: Mark, message: str) -> ConfigError:
    return ConfigError(f"{file} is not valid YAML", problems=[Problem(file, where.line, where.col, message)])


def _unique(problems: list[Problem]) -> list[Problem]:
    return sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.col))
