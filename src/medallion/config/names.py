"""How tables are named: `<layer>.<name>`, and a table's quarantine companion.

A source or model whose rows can be set aside (unparseable lines, failed expectations) has a
companion table `<layer>.<name>__quarantine`. Models may read it like any table (a report of bad
rows); the graph treats reading it as reading what its table's step writes.
"""

from __future__ import annotations

#: suffix of the companion table holding rows a source or model could not accept
QUARANTINE_SUFFIX = "__quarantine"


def quarantine_of(fqn: str) -> str:
    """The quarantine table of `fqn`."""
    return f"{fqn}{QUARANTINE_SUFFIX}"


def is_quarantine(fqn: str) -> bool:
    return fqn.endswith(QUARANTINE_SUFFIX)


def owner(fqn: str) -> str:
    """The table a quarantine table belongs to (`fqn` itself if it is not one)."""
    return fqn.removesuffix(QUARANTINE_SUFFIX)
