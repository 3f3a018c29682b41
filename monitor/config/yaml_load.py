"""Loading the operator's YAML files (config.yaml, watchlists) with an alias-expansion budget.

YAML aliases let a 1 KB file describe a tree of billions of nodes ("billion laughs":
an anchor referring nine levels deep to lists of aliases). ruamel composes such a
file cheaply, as a shared graph, but everything that walks the result (validation,
the watchlist compiler, the daemon's hot reload on its event loop) walks the expanded
tree. :func:`load_yaml` counts, while composing, how many nodes each alias stands
for and refuses the file past :data:`ALIAS_BUDGET` with a ``MarkedYAMLError`` that
points at the alias which went over, so callers report it as ``file:line: ...``
like any other YAML problem.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

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


def load_yaml(text: str, *, allow_duplicate_keys: bool = False) -> Any:
    """Parse one YAML document round-trip (positions kept for messages), aliases within budget.

    Raises ruamel's ``MarkedYAMLError`` subclasses (``AliasBudgetError`` for a bomb) and ``YAMLError``."""
    yaml = round_trip_yaml()
    yaml.allow_duplicate_keys = allow_duplicate_keys
    return yaml.load(text)
