"""Materialized-path arithmetic: pure functions on plain strings, no database.

A path is the concatenation of one fixed-width segment per level from the root, each followed by
``SEPARATOR``: a district's path is ``"0001."``, one of its towns ``"0001.0003."``, and so on. A
segment is a unit's sequence number among its siblings in base 36 (``SEGMENT_WIDTH`` characters,
1,679,615 siblings at most).

Every segment character sorts after ``SEPARATOR`` and before ``SUBTREE_END``, so under a binary
collation the subtree of ``p`` (``p`` itself and all its descendants) is exactly the range
``p <= path < p + SUBTREE_END``: one index range scan on any database.
"""

import string

ALPHABET = string.digits + string.ascii_uppercase
SEGMENT_WIDTH = 4
SEPARATOR = "."
SUBTREE_END = "~"
MAX_SEQUENCE = len(ALPHABET) ** SEGMENT_WIDTH - 1

assert SEPARATOR < min(ALPHABET) and max(ALPHABET) < SUBTREE_END


def segment(sequence: int) -> str:
    """The fixed-width segment for a sibling's sequence number (1-based)."""
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence {sequence} outside 1..{MAX_SEQUENCE}")
    digits = []
    for _ in range(SEGMENT_WIDTH):
        sequence, digit = divmod(sequence, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def sequence_of(segment_text: str) -> int:
    return int(segment_text, len(ALPHABET))


def child_path(parent_path: str, sequence: int) -> str:
    """The path of the ``sequence``-th child of ``parent_path`` (``""`` for a root)."""
    return parent_path + segment(sequence) + SEPARATOR


def subtree_range(path: str) -> tuple[str, str]:
    """``(low, high)`` such that ``low <= p < high`` holds exactly for ``path`` and its descendants."""
    return path, path + SUBTREE_END


def depth(path: str) -> int:
    """0 for a root."""
    return len(path) // (SEGMENT_WIDTH + 1) - 1


def last_sequence(path: str) -> int:
    return sequence_of(path[-SEGMENT_WIDTH - 1 : -1])


def ancestor_paths(path: str) -> list[str]:
    """Paths of every proper ancestor, root first."""
    step = SEGMENT_WIDTH + 1
    return [path[:end] for end in range(step, len(path), step)]


def ancestor_at(path: str, at_depth: int) -> str:
    """The path of the ancestor-or-self at ``at_depth`` (0: the root)."""
    if not 0 <= at_depth <= depth(path):
        raise ValueError(f"{path!r} has no ancestor at depth {at_depth}")
    return path[: (at_depth + 1) * (SEGMENT_WIDTH + 1)]


def parent_path(path: str) -> str | None:
    ancestors = ancestor_paths(path)
    return ancestors[-1] if ancestors else None


def is_descendant_or_self(path: str, ancestor: str) -> bool:
    return path.startswith(ancestor)


def common_ancestor(paths: list[str]) -> str | None:
    """The longest path that is an ancestor-or-self of every path given; ``None`` across roots."""
    if not paths:
        raise ValueError("no paths given")
    shortest = min(paths, key=len)
    step = SEGMENT_WIDTH + 1
    common = ""
    for end in range(step, len(shortest) + 1, step):
        candidate = shortest[:end]
        if all(p.startswith(candidate) for p in paths):
            common = candidate
        else:
            break
    return common or None


def rebase(path: str, old_prefix: str, new_prefix: str) -> str:
    """The path of a descendant of ``old_prefix`` once that subtree sits at ``new_prefix``."""
    if not path.startswith(old_prefix):
        raise ValueError(f"{path!r} is not under {old_prefix!r}")
    return new_prefix + path[len(old_prefix):]
