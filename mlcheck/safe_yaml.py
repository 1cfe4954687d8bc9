"""The one way mlcheck parses YAML: PyYAML's safe loader, with a bound on what aliases expand to.

The safe loader constructs no Python objects beyond plain data, but it does expand aliases: a
"billion laughs" document (nine levels of nine aliases) is a few hundred bytes that stand for
387 million values, and anything that walks them (validation, printing, iterating) runs for
hours while memory grows. Every YAML file mlcheck reads, the checklist and conda environment
files alike, is composed to a node graph first and refused when its expanded size passes
MAX_VALUES, before one value is constructed or walked.
"""

from __future__ import annotations

from typing import Any

import yaml

# Far above any real checklist or environment file (a few hundred values); bounds what aliases
# can expand to.
MAX_VALUES = 100_000


class TooManyValues(ValueError):
    """The document expands past MAX_VALUES values; the message says so for the user."""

    def __init__(self) -> None:
        super().__init__(
            f"holds more than {MAX_VALUES} values once its aliases (*name) are expanded"
        )


def compose_within_limit(loader: yaml.SafeLoader) -> yaml.Node | None:
    """The loader's single document as a node graph (None when empty), refused with
    TooManyValues when it expands past MAX_VALUES. Nesting too deep raises RecursionError."""
    node = loader.get_single_node()
    if node is not None and expanded_size(node, {}) > MAX_VALUES:
        raise TooManyValues
    return node


class SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a plain value shaped like a date but not a real one
    (`2027-13-01`) stays text: PyYAML raises a bare ValueError there, which would surface as an
    internal error instead of the schema's "expected a date" with its line."""


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def safe_load(text: str) -> Any:
    """`yaml.safe_load` with the alias bound: plain data, or TooManyValues / yaml.YAMLError /
    RecursionError (a document nested thousands of levels deep)."""
    loader = SafeLoader(text)
    try:
        node = compose_within_limit(loader)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the document holds with every alias expanded; linear in distinct nodes."""
    if id(node) in sizes:  # an alias of a node already counted (or a recursive one: 0)
        return sizes[id(node)]
    sizes[id(node)] = 0
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    sizes[id(node)] = 1 + sum(expanded_size(child, sizes) for child in children)
    return sizes[id(node)]
