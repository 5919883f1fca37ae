"""Generating a district of Naxi's shape: towns → villages → grids → micro-grids.

Pure and deterministic: the same random generator state gives the same rows, so seeds are
reproducible and the synthetic forest is the same on every machine.
"""

import random
from dataclasses import dataclass

from gridgov.tree.levels import Level
from gridgov.tree.transfer import Row

VILLAGE_STEMS = (
    "永安 新民 金龙 石桥 红岩 桂花 双河 白鹤 凤凰 青山 大坪 竹林 团结 高峰 龙井 新华 兴隆 长安 "
    "福寿 河坝 梨园 松林 玉带 清溪 桃源 明月 仁和 瓦窑 三江 太平 黄桷 龙溪 安乐 大湾 水口 丰收 "
    "天堂 金鸡 新桥 云峰 观音 红星 合江 永丰 平安 马鞍 盐井 花果 和平 先锋 泉水 五星 柏杨 "
    "荷花 茶山 沙坝 宝山 新农 楠木 同心"
).split()


@dataclass(frozen=True)
class TownSpec:
    code: str
    name: str
    villages: int
    urban: bool  # a street (街道): communities, denser and larger


def district_rows(
    *,
    code: str,
    name: str,
    city_code: str,
    towns: list[TownSpec],
    grids: int,
    microgrids: int,
    centre: tuple[float, float],
    rng: random.Random,
) -> list[Row]:
    """Rows for one district; ``grids`` and ``microgrids`` are totals, spread by households."""
    line = iter(range(1, 10**9))
    lat0, lon0 = centre
    rows = [Row(next(line), code, name, Level.DISTRICT, city_code, latitude=lat0, longitude=lon0)]
    villages = []  # (row, households, lat, lon)
    for town in towns:
        t_lat, t_lon = lat0 + rng.uniform(-0.17, 0.17), lon0 + rng.uniform(-0.2, 0.2)
        village_rows = []
        for index in range(1, town.villages + 1):
            community = town.urban or index <= max(1, town.villages // 8)
            sequence = index if community else 200 + index
            stem = VILLAGE_STEMS[rng.randrange(len(VILLAGE_STEMS))]
            households = rng.randint(1500, 3200) if town.urban else (
                rng.randint(900, 1800) if community else rng.randint(500, 1300)
            )
            lat, lon = t_lat + rng.uniform(-0.035, 0.035), t_lon + rng.uniform(-0.035, 0.035)
            row = Row(
                next(line), f"{town.code}{sequence:03d}", f"{stem}{'社区' if community else '村'}",
                Level.VILLAGE, town.code, households, _population(households, rng), round(lat, 6), round(lon, 6),
            )
            village_rows.append(row)
            villages.append((row, households, lat, lon))
        town_households = sum(r.households for r in village_rows)
        rows.append(
            Row(next(line), town.code, town.name, Level.TOWN, code, town_households,
                sum(r.population for r in village_rows), round(t_lat, 6), round(t_lon, 6))
        )
        rows.extend(village_rows)

    grid_counts = spread(grids, [households for _row, households, _lat, _lon in villages])
    grid_list = []  # (row, households, lat, lon)
    for (village, households, lat, lon), count in zip(villages, grid_counts):
        for number, share in enumerate(split(households, count, rng), 1):
            g_lat, g_lon = lat + rng.uniform(-0.008, 0.008), lon + rng.uniform(-0.008, 0.008)
            row = Row(
                next(line), f"{village.code}{number:03d}", f"{village.name}第{number}网格", Level.GRID,
                village.code, share, _population(share, rng), round(g_lat, 6), round(g_lon, 6),
            )
            rows.append(row)
            grid_list.append((row, share, g_lat, g_lon))

    micro_counts = spread(microgrids, [households for _row, households, _lat, _lon in grid_list])
    for (grid, households, lat, lon), count in zip(grid_list, micro_counts):
        for number, share in enumerate(split(households, count, rng), 1):
            rows.append(
                Row(
                    next(line), f"{grid.code}{number:03d}", f"{grid.name}{number}号微网格", Level.MICROGRID,
                    grid.code, share, _population(share, rng),
                    round(lat + rng.uniform(-0.002, 0.002), 6), round(lon + rng.uniform(-0.002, 0.002), 6),
                )
            )
    return rows


def spread(total: int, weights: list[int]) -> list[int]:
    """``total`` items over ``len(weights)`` places: one each, the rest by weight (largest
    remainder), so the result always sums to ``total``."""
    if total < len(weights):
        raise ValueError(f"{total} items cannot give each of {len(weights)} places one")
    rest = total - len(weights)
    whole = sum(weights)
    quotas = [rest * weight / whole for weight in weights]
    counts = [int(quota) for quota in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (quotas[i] - counts[i], weights[i]), reverse=True)
    for i in by_remainder[: rest - sum(counts)]:
        counts[i] += 1
    return [count + 1 for count in counts]


def split(amount: int, parts: int, rng: random.Random) -> list[int]:
    """``amount`` in ``parts`` shares of roughly equal size (±25%) that add up exactly."""
    weights = [rng.uniform(0.75, 1.25) for _ in range(parts)]
    total = sum(weights)
    shares = [int(amount * weight / total) for weight in weights]
    shares[0] += amount - sum(shares)
    return shares


def _population(households: int, rng: random.Random) -> int:
    return int(households * rng.uniform(2.4, 3.1))
