"""泸州市纳溪区 (510503): the reference district, as demo data."""

import random

from seeds.shape import TownSpec, district_rows

CODE = "510503"
NAME = "纳溪区"
CITY_CODE = "510500"  # 泸州市
CENTRE = (28.773, 105.371)
GRIDS = 202
MICROGRIDS = 3286
RANDOM_SEED = 510503

TOWNS = [
    TownSpec("510503001", "安富街道", 9, urban=True),
    TownSpec("510503002", "永宁街道", 11, urban=True),
    TownSpec("510503003", "东升街道", 8, urban=True),
    TownSpec("510503100", "大渡口镇", 12, urban=False),
    TownSpec("510503101", "护国镇", 20, urban=False),
    TownSpec("510503102", "打古镇", 15, urban=False),
    TownSpec("510503103", "上马镇", 9, urban=False),
    TownSpec("510503104", "合面镇", 12, urban=False),
    TownSpec("510503106", "丰乐镇", 12, urban=False),
    TownSpec("510503107", "白节镇", 16, urban=False),
    TownSpec("510503108", "天仙镇", 15, urban=False),
    TownSpec("510503109", "新乐镇", 7, urban=False),
    TownSpec("510503111", "龙车镇", 10, urban=False),
]


def rows():
    return district_rows(
        code=CODE,
        name=NAME,
        city_code=CITY_CODE,
        towns=TOWNS,
        grids=GRIDS,
        microgrids=MICROGRIDS,
        centre=CENTRE,
        rng=random.Random(RANDOM_SEED),
    )

# One account per role, so that a new user can try each at once (`make demo` prints tokens).
# Besides these, every town, village and grid gets an account of its own (``STATIONS``), with
# no password and no token: they are who the generated timelines name.
DEMO_PASSWORD = "naxi-demo-2026"
DEMO_ACCOUNTS = [
    # username, role, scope code, display name
    ("naxi.grid", "grid_worker", "510503001001001", "安富街道网格员"),
    ("naxi.village", "village_station", "510503001001", "村/社区工作站"),
    ("naxi.town", "town_centre", "510503001", "安富街道社会治理中心"),
    ("naxi.command", "district_command", CODE, "纳溪区社会治理中心指挥部"),
    ("naxi.triage", "triage_clerk", CODE, "信息清洗员"),
    ("naxi.expert", "specialist", CODE, "金牌调解员"),
    ("naxi.auditor", "auditor", CODE, "审计员"),
    ("naxi.admin", "admin", CODE, "系统管理员"),
    ("naxi.integration", "integration", CODE, "外部系统（Open311）"),
]

# Per level: the role of its unit's account, and what follows the unit's name in its display name.
STATIONS = {"town": ("town_centre", "社会治理中心"), "village": ("village_station", "工作站"),
            "grid": ("grid_worker", "网格员")}


def station_username(code: str) -> str:
    return f"naxi.{code}"
