"""A forest of districts of Naxi's shape, for scale tests (180 districts: 658,440 units).

Codes start with 9, which no real province uses, so the forest can sit beside real data.
"""

import random

from seeds import naxi
from seeds.shape import TownSpec, district_rows

RANDOM_SEED = 20261127


def district_code(index: int) -> str:
    return f"9{index:05d}"


def rows(districts: int):
    """Rows of ``districts`` districts, one district at a time (each is complete on its own)."""
    for index in range(1, districts + 1):
        code = district_code(index)
        rng = random.Random(RANDOM_SEED + index)
        towns = [
            TownSpec(f"{code}{number:03d}", f"合成{index}区第{number}镇", spec.villages, spec.urban)
            for number, spec in enumerate(naxi.TOWNS, 1)
        ]
        yield district_rows(
            code=code,
            name=f"合成{index}区",
            city_code="900000",
            towns=towns,
            grids=naxi.GRIDS,
            microgrids=naxi.MICROGRIDS,
            centre=(25 + rng.uniform(0, 8), 100 + rng.uniform(0, 10)),
            rng=rng,
        )
