"""Loading the operator's YAML files (config.yaml, watchlists) with an alias-expansion budget.

YAML aliases let a 1 KB file describe a tree of billions of nodes ("billion laughs":
an anchor referring nine levels deep to lists of aliases). ruamel composes such a
file cheaply, as a shared graph, but everything that walks the result (validation,
the watchlist compiler, the daemon's hot reload on its event loop) walks the expanded
tree. :func:`load_yaml` counts, while composing, how many nodes each alias stands
for and refuses the file past :data:`ALIAS_BUDGET` with a ``MarkedYAMLError`` that
points at the alias which went over, so callers report it as ``file:line: ...``
like any other YAML problem.

Reading is the slow part of a large config (ruamel's pure-Python scanner and parser read a
1,000-feed config.yaml in about half a second). When PyYAML's libyaml binding is there,
:func:`load_yaml` reads plain documents with libyaml's parser and hands the nodes to ruamel's
own resolver and constructor, so the values, their YAML 1.2 types (``on`` and ``07:30`` stay
text, ``0o17`` is octal) and the line and column of every key and item are ruamel's. Anything
out of the ordinary (an anchor or alias, an explicit tag, a ``%YAML`` directive, a second
document) and any error at all are left to ruamel, so the messages and the alias budget are
exactly its; comments are not kept on this path (nothing that reads a file with it uses them).
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:  # PyYAML with its libyaml binding: a C parser (the pure-Python one is no faster than ruamel's)
    import yaml as _pyyaml

    _FAST = bool(_pyyaml.__with_libyaml__)
except ImportError:  # pragma: no cover - a declared dependency
    _FAST = False

__all__ = ["ALIAS_BUDGET", "AliasBudgetError", "load_yaml", "round_trip_yaml"]

#: Nodes that aliases may add to one document in all (shared term lists of a real watchlist
#: need hundreds at most; a nested alias bomb needs billions).
ALIAS_BUDGET = 10_000


class AliasBudgetError(ComposerError):
    """The document's aliases expand past the budget (``problem_mark`` is the alias)."""


def _expanded_size(node: Node, memo: dict[int, int], limit: int) -> int:
    """Nodes in the tree ``node`` stands for, every alias inside expanded (stops counting past ``limit``)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a node that (indirectly) contains itself counts once
    total = 1
    if isinstance(node, SequenceNode):
        children: list[Node] = list(node.value)
    elif isinstance(node, MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, memo, limit)
        if total > limit:
            break
    memo[key] = total
    return total


class _BudgetComposer(Composer):
    """A Composer that adds up what each alias expands to and stops at the budget."""

    budget = ALIAS_BUDGET

    def compose_document(self: Any) -> Any:
        self._expanded = 0
        self._sizes: dict[int, int] = {}
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.parser.check_event(AliasEvent):
            return super().compose_node(parent, index)
        mark = self.parser.peek_event().start_mark
        node = super().compose_node(parent, index)
        self._expanded += _expanded_size(node, self._sizes, self.budget + 1)
        if self._expanded > self.budget:
            raise AliasBudgetError(
                None, None,
                f"aliases expand to more than {self.budget} nodes (a YAML alias bomb?); "
                "write the repeated parts out or use fewer nested aliases", mark)
        return node


def round_trip_yaml() -> YAML:
    """A round-trip (comment- and position-keeping) loader with the alias budget."""
    yaml = YAML(typ="rt")
    yaml.Composer = _BudgetComposer
    return yaml


class _Unusual(Exception):
    """The document uses something the libyaml path leaves to ruamel."""


_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")  # line breaks besides \n: lines would be counted apart


def _comment_between(lines: list[str], start: Any, end: Any) -> bool:
    """Whether a '#' may stand between two marks (the rest of the first line, whole lines, the last line's start)."""
    if end.line >= len(lines):
        return True  # the end of the stream: not worth the care
    if start.line == end.line:
        return "#" in lines[start.line][start.column:end.column]
    return ("#" in lines[start.line][start.column:] or "#" in lines[end.line][:end.column]
            or any("#" in lines[i] for i in range(start.line + 1, end.line)))


def _compose_with_libyaml(text: str, yaml: YAML) -> Node | None:
    """ruamel nodes for ``text`` built from libyaml's parser events (None for an empty stream).

    Raises :class:`_Unusual` for anchors, aliases, explicit tags, directives, a second document
    or a tab anywhere (libyaml takes tabs where ruamel's scanner refuses them), and libyaml's
    own errors for a document it cannot parse."""
    if "\t" in text or any(c in text for c in _OTHER_BREAKS):
        raise _Unusual
    lines: list[str] | None = None
    p = _pyyaml
    resolve = yaml.resolver.resolve
    root: Node | None = None
    stack: list[list[Any]] = []  # [collection node, the mapping key waiting for its value]
    documents = 0
    empty: list[Node] = []  # empty plain scalars: ruamel places them where the next token starts
    for ev in p.parse(text, Loader=p.CSafeLoader):
        cls = type(ev)
        if empty:
            lines = lines or text.split("\n")
            for n in empty:
                if _comment_between(lines, n.start_mark, ev.start_mark):
                    raise _Unusual  # ruamel places the empty value after the comment
                n.start_mark = n.end_mark = ev.start_mark
            empty.clear()
        if cls is p.ScalarEvent or cls is p.MappingStartEvent or cls is p.SequenceStartEvent:
            if ev.anchor is not None or ev.tag is not None:
                raise _Unusual
            node: Node
            if cls is p.ScalarEvent:
                style = ev.style or None  # libyaml's binding writes '' for plain
                node = ScalarNode(resolve(ScalarNode, ev.value, ev.implicit), ev.value, ev.start_mark,
                                  ev.end_mark, style=style)
                if not ev.value and style is None:  # "key:" with nothing after it
                    top = stack[-1] if stack else None
                    if top is None or type(top[0]) is not MappingNode or top[0].flow_style or top[1] is None:
                        raise _Unusual  # an empty item, key or flow entry: ruamel's marks differ there
                    empty.append(node)
            elif cls is p.MappingStartEvent:
                node = MappingNode(resolve(MappingNode, None, ev.implicit), [], ev.start_mark, None,
                                   flow_style=ev.flow_style)
            else:
                node = SequenceNode(resolve(SequenceNode, None, ev.implicit), [], ev.start_mark, None,
                                    flow_style=ev.flow_style)
            if not stack:
                root = node
            else:
                top = stack[-1]
                if type(top[0]) is SequenceNode:
                    top[0].value.append(node)
                elif top[1] is None:
                    top[1] = node
                else:
                    top[0].value.append((top[1], node))
                    top[1] = None
            if cls is not p.ScalarEvent:
                stack.append([node, None])
        elif cls is p.MappingEndEvent or cls is p.SequenceEndEvent:
            stack.pop()[0].end_mark = ev.end_mark
        elif cls is p.AliasEvent:
            raise _Unusual
        elif cls is p.DocumentStartEvent:
            documents += 1
            if documents > 1 or ev.version is not None or ev.tags:
                raise _Unusual
    return root


def load_yaml(text: str, *, allow_duplicate_keys: bool = False) -> Any:
    """Parse one YAML document round-trip (positions kept for messages), aliases within budget.

    Raises ruamel's ``MarkedYAMLError`` subclasses (``AliasBudgetError`` for a bomb) and ``YAMLError``."""
    yaml = round_trip_yaml()
    yaml.allow_duplicate_keys = allow_duplicate_keys
    if _FAST:
        try:
            root = _compose_with_libyaml(text, yaml)
            return None if root is None else yaml.constructor.construct_document(root)
        except Exception:  # out of the ordinary, or an error: ruamel reads it (and words the error)
            yaml = round_trip_yaml()
            yaml.allow_duplicate_keys = allow_duplicate_keys
    return yaml.load(text)
