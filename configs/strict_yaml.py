"""YAML as a catalog may be written, and nothing more: safe types only, no duplicated key, bounded size.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word (a second ``app_logs:`` block silently
replaces the first, retention included) and expands aliases without limit (a 1.4 KB "billion laughs" document
stands for 10^9 nodes and hangs whatever walks it). :func:`load` refuses both, naming the lines.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Largest catalog file read, in bytes.
MAX_BYTES = 1 << 20
#: Most nodes a document may stand for once its aliases are expanded (the demo catalog has about 700).
MAX_NODES = 100_000


class StrictYamlError(ValueError):
    """A document piiflow refuses; the message names the line(s)."""


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *defaults``: keys written beside it override the merged ones, as YAML intends
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base constructor says so in its own words
                break
            line = key_node.start_mark.line + 1
            if first is not None:
                raise StrictYamlError(f"line {line}: duplicate key {key!r} (first at line {first}); a key may appear "
                                      f"once in a mapping")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def _expanded_size(node: yaml.Node, limit: int) -> int:
    """How many nodes ``node`` stands for with every alias expanded, counting no further than ``limit``. A node an
    alias repeats is measured once (memoised) and counted each time it appears."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        if key in active:
            raise StrictYamlError(f"line {n.start_mark.line + 1}: an alias refers to a node that contains it")
        active.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            children = n.value
        elif isinstance(n, yaml.MappingNode):
            children = [c for pair in n.value for c in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                break
        active.discard(key)
        memo[key] = total
        return total

    return size(node)


def load(text: str) -> Any:
    """The document in ``text``. Raises :class:`StrictYamlError` (duplicate key, too large, aliases that expand too
    far) or ``yaml.YAMLError`` (not YAML)."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise StrictYamlError(f"larger than {MAX_BYTES // 1024} KB; a catalog is a short declaration")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        n = _expanded_size(node, MAX_NODES)
        if n > MAX_NODES:
            raise StrictYamlError(f"stands for more than {MAX_NODES:,} values once its aliases are expanded "
                                  f"(an alias bomb?)")
        return loader.construct_document(node)
    finally:
        loader.dispose()
