"""The five levels of the tree and the rules that hang on them, as data."""

import enum
import re
import unicodedata


class Level(enum.StrEnum):
    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"
    GRID = "grid"
    MICROGRID = "microgrid"

    @property
    def rank(self) -> int:
        """0 for a district, 4 for a micro-grid: a unit's depth in the tree."""
        return ORDER.index(self)

    @property
    def parent(self) -> "Level | None":
        return ORDER[self.rank - 1] if self.rank > 0 else None

    @property
    def child(self) -> "Level | None":
        return ORDER[self.rank + 1] if self.rank + 1 < len(ORDER) else None


ORDER = list(Level)

# Districts, towns and villages carry the national statistical division codes (统计用区划代码);
# grids and micro-grids extend their parent's code by a three-digit sequence.
CODE_LENGTH = {
    Level.DISTRICT: 6,
    Level.TOWN: 9,
    Level.VILLAGE: 12,
    Level.GRID: 15,
    Level.MICROGRID: 18,
}
GENERATED_CODE_LEVELS = {Level.GRID, Level.MICROGRID}
GENERATED_SEQUENCE_WIDTH = 3

CHINESE_NAME = {
    Level.DISTRICT: "区",
    Level.TOWN: "镇/街道",
    Level.VILLAGE: "村/社区",
    Level.GRID: "网格",
    Level.MICROGRID: "微网格",
}

_DIGITS = re.compile(r"[0-9]+")


def typed_code(text: str) -> str:
    """A code as a person types it, read as digits: a Chinese input method in full-width mode
    types ５１０５０３."""
    return unicodedata.normalize("NFKC", text).strip()


def code_problem(code: str, level: Level) -> str | None:
    """Why ``code`` cannot be the code of a unit of ``level``, or None when it can."""
    if not _DIGITS.fullmatch(code) or len(code) != CODE_LENGTH[level]:
        return f"a {level} code is {CODE_LENGTH[level]} digits"
    return None


# The national division codes nest: a town's begins with its district's, a village's with its
# town's. Held to it when a unit is made through the API; a unit moved later keeps its code (codes
# never change), so an import, which may hold another installation's moved units, is not.
NESTED_CODE_LEVELS = frozenset({Level.TOWN, Level.VILLAGE})


def nesting_problem(code: str, level: Level, parent_code: str) -> str | None:
    """Why ``code`` cannot be the code of a new unit of ``level`` under ``parent_code``, or None."""
    if level in NESTED_CODE_LEVELS and not code.startswith(parent_code):
        return f"a new {level}'s division code begins with its {level.parent}'s code, {parent_code}"
    return None


def parent_problem(level: Level, parent_level: Level | None) -> str | None:
    """Why a unit of ``level`` cannot sit under a parent of ``parent_level`` (None: no parent)."""
    if level.parent is None:
        return None if parent_level is None else "a district has no parent"
    if parent_level != level.parent:
        return f"the parent of a {level} must be a {level.parent}"
    return None
