"""纳溪区's roster: exactly the numbers of the district's own account, then the planner decides
who covers which grid, micro-grid and village.

205 political-legal officers stationed in the 202 grids (three grids have two); 388 grid workers,
full-time mediators and auxiliary police in the villages; 15 community police chiefs; the expert
team of 6 chief legal experts, 30 gold-medal mediators, 16 psychological counsellors and 71 social
workers; and named mediation studios whose members come from that roster.
"""

import random
from datetime import date

import sqlalchemy as sa

from gridgov.people import service
from gridgov.people.models import Studio, Worker, WorkerRole
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree

RANDOM_SEED = 5105031
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "明华强芳军秀英丽伟勇敏静磊洋艳杰娟涛超霞平刚桂兰"
EXPERTS = {WorkerRole.LEGAL_EXPERT: 6, WorkerRole.GOLD_MEDIATOR: 30, WorkerRole.COUNSELLOR: 16, WorkerRole.SOCIAL_WORKER: 71}
VILLAGE_STAFF = 388
POLICE_CHIEFS = 15
EXTRA_OFFICERS = 3
CAPACITY = {WorkerRole.GRID_OFFICER: 1, WorkerRole.GRID_WORKER: 20, WorkerRole.MEDIATOR: 14,
            WorkerRole.AUXILIARY_POLICE: 14}
STUDIOS = [
    # name, specialties, members by role
    ("劳动争议调解工作室", ["labour"], {WorkerRole.LEGAL_EXPERT: 2, WorkerRole.GOLD_MEDIATOR: 4}),
    ("消费纠纷调解室", ["consumer"], {WorkerRole.LEGAL_EXPERT: 1, WorkerRole.GOLD_MEDIATOR: 3}),
    ("家事邻里调解室", ["family_neighbour"], {WorkerRole.GOLD_MEDIATOR: 4, WorkerRole.COUNSELLOR: 4,
                                          WorkerRole.SOCIAL_WORKER: 4}),
    ("法律首席专家团队", ["land_housing", "petition", "traffic_injury"], {WorkerRole.LEGAL_EXPERT: 6}),
]


def seed(session, *, district_code: str, today: date, plan: bool = True) -> dict | None:
    """The roster, studios and (with ``plan``) a first plan, unless the district has workers."""
    district = session.scalar(sa.select(Unit).where(Unit.code == district_code))
    if session.scalar(sa.select(sa.func.count()).select_from(Worker).where(Worker.district_id == district.id)):
        return None
    rng = random.Random(RANDOM_SEED)
    below = in_subtree(Unit.path, district.path)
    grids = list(session.scalars(sa.select(Unit).where(below, Unit.level == Level.GRID).order_by(Unit.path)))
    villages = list(session.scalars(sa.select(Unit).where(below, Unit.level == Level.VILLAGE).order_by(Unit.path)))
    largest_grids = sorted(grids, key=lambda unit: (-(unit.households or 0), unit.id))[:EXTRA_OFFICERS]
    largest_villages = sorted(villages, key=lambda unit: (-(unit.households or 0), unit.id))
    communities = [village for village in largest_villages if village.name.endswith("社区")]

    def add(role, home, capacity=0):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        phone = f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"
        session.add(Worker(name=name, phone=phone, role=role, home_unit_id=home.id, home_path=home.path,
                           district_id=district.id, capacity=capacity))

    for grid in grids + largest_grids:
        add(WorkerRole.GRID_OFFICER, grid, CAPACITY[WorkerRole.GRID_OFFICER])
    for village in villages:
        add(WorkerRole.MEDIATOR, village, CAPACITY[WorkerRole.MEDIATOR])
    for grid in grids:
        add(WorkerRole.GRID_WORKER, grid, CAPACITY[WorkerRole.GRID_WORKER])
    for village in largest_villages[: VILLAGE_STAFF - len(villages) - len(grids)]:
        add(WorkerRole.AUXILIARY_POLICE, village, CAPACITY[WorkerRole.AUXILIARY_POLICE])
    for village in communities[:POLICE_CHIEFS]:
        add(WorkerRole.COMMUNITY_POLICE_CHIEF, village)
    for role, count in EXPERTS.items():
        for _ in range(count):
            add(role, district)
    session.flush()

    experts = {role: list(session.scalars(sa.select(Worker.id).where(Worker.district_id == district.id,
                                                                    Worker.role == role).order_by(Worker.id)))
               for role in EXPERTS}
    taken = {role: 0 for role in EXPERTS}
    for name, specialties, members in STUDIOS:
        ids = []
        for role, count in members.items():
            start = 0 if role is WorkerRole.LEGAL_EXPERT else taken[role]
            ids += experts[role][start:start + count]
            taken[role] = start + count
        service.create_studio(session, name=name, unit_id=district.id, specialties=specialties, member_ids=ids)
    if not plan:
        return {}
    return service.plan_scope(session, scope_unit_id=district.id, apply=True, today=today)


def link_specialist(session, *, district_code: str, principal) -> None:
    """The demo specialist's account is a gold mediator of the labour-dispute studio, so that it
    sees what that studio is given (the wage story), unless someone is linked to it already."""
    if session.scalar(sa.select(Worker.id).where(Worker.principal_id == principal.id)) is not None:
        return
    district = session.scalar(sa.select(Unit).where(Unit.code == district_code))
    studio = session.scalar(sa.select(Studio).where(Studio.district_id == district.id, Studio.name == STUDIOS[0][0]))
    member = next((worker for worker in (studio.members if studio else [])
                   if worker.role is WorkerRole.GOLD_MEDIATOR and worker.principal_id is None), None)
    if member is not None:
        member.principal_id = principal.id
        session.flush()

