"""About 2,000 cases across 纳溪区, in every status, made through the same service functions as
real ones (so their events, owners and deadlines are real), on a fixed random seed.

The shares follow the rule the district is judged by: most matters settle at the grid or the
village, fewer at the town, a handful at the district.
"""

import random
from datetime import datetime, timedelta

import sqlalchemy as sa

from gridgov.auth.models import Principal
from gridgov.cases import service, sweep
from gridgov.cases.enums import Category, EscalationReason, Outcome, ReferralChannel, RiskGrade, Source
from gridgov.cases.models import Case
from gridgov.db import utcnow
from gridgov.tree import paths
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree

RANDOM_SEED = 2026
COUNT = 2000
DAYS_OF_HISTORY = 150

CATEGORIES = {  # share of cases
    Category.FAMILY_NEIGHBOUR: 34, Category.PROPERTY_MANAGEMENT: 12, Category.CONSUMER: 10,
    Category.LAND_HOUSING: 10, Category.SAFETY_HAZARD: 9, Category.TRAFFIC_INJURY: 8,
    Category.LABOUR: 8, Category.PETITION: 3, Category.OTHER: 6,
}
GRADES = {RiskGrade.BLUE: 30, RiskGrade.YELLOW: 47, RiskGrade.ORANGE: 19, RiskGrade.RED: 4}
SOURCES = {Source.GRID_PATROL: 55, Source.CITIZEN_REPORT: 20, Source.HOTLINE: 12,
           Source.POLICE_DISPATCH: 10, Source.COURT_REFERRAL: 3}
# How far up a settled case goes before it settles: 0 = where it starts.
CLIMB = {0: 86, 1: 11, 2: 2.5, 3: 0.5}
TITLES = {
    Category.FAMILY_NEIGHBOUR: ["邻里噪音纠纷", "宅基地滴水纠纷", "赡养老人纠纷", "婚姻家庭矛盾", "邻里通道纠纷"],
    Category.PROPERTY_MANAGEMENT: ["物业费纠纷", "小区停车纠纷", "电梯维修费用分摊"],
    Category.CONSUMER: ["预付卡退费纠纷", "网购商品质量纠纷", "装修合同纠纷"],
    Category.LAND_HOUSING: ["土地承包经营权纠纷", "房屋漏水纠纷", "林地界址纠纷"],
    Category.SAFETY_HAZARD: ["自建房安全隐患", "道路塌陷隐患", "燃气管道隐患"],
    Category.TRAFFIC_INJURY: ["摩托车撞伤行人", "电动车交通事故", "犬只伤人"],
    Category.LABOUR: ["工程款欠薪纠纷", "工伤赔偿纠纷", "劳务报酬纠纷"],
    Category.PETITION: ["征地补偿信访", "拆迁安置信访"],
    Category.OTHER: ["合同纠纷", "借款纠纷"],
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Stations:
    """Who acts in the generated histories, as in the district: the grid's worker logs what
    happens in the grid; the station of the unit that owns a case handles it (a village's station
    for its grids too); the level above verifies (the town for its villages and grids, district
    command for a town); district command handles the district's own, and the system verifies
    what command resolved (no one above it)."""

    def __init__(self, session, *, by_unit: dict[int, Principal], command: Principal):
        self.by_unit, self.command = by_unit, command
        self.parent = dict(session.execute(sa.select(Unit.id, Unit.parent_id)).all())

    def logger(self, origin: Unit) -> Principal:
        grid = origin.parent_id if origin.level is Level.MICROGRID else origin.id
        return self._acting(self.by_unit.get(grid), origin.path)

    def handler(self, case: Case) -> Principal:
        unit = case.owner_unit_id
        if case.owner_level.value == "grid":
            unit = self.parent[unit]  # the village station accepts and mediates for its grids
        return self._acting(self.command if case.owner_level.value == "district" else self.by_unit.get(unit),
                            case.owner_path)

    def verifier(self, case: Case) -> Principal | None:
        level, unit = case.owner_level.value, case.owner_unit_id
        above = {"grid": lambda: self.parent[self.parent[unit]], "village": lambda: self.parent[unit]}
        if level == "district":
            return None
        actor = self.command if level == "town" else self._acting(self.by_unit.get(above[level]()), case.owner_path)
        return actor if actor is not None and actor.id != case.resolved_by_id else None

    def _acting(self, actor: Principal | None, path: str) -> Principal:
        """``actor`` if it could act on what lies at ``path``, else district command."""
        return (_within(actor, path) if actor is not None else None) or self.command


def seed(session, *, district_code: str, stations: Stations, count: int = COUNT,
         now: datetime | None = None, progress=None) -> int:
    """Generate ``count`` cases unless the district has some already (``progress(n)`` after each
    ``n`` made). Returns how many were made."""
    district = session.scalar(sa.select(Unit).where(Unit.code == district_code))
    if not count or session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.district_id == district.id)):
        return 0
    rng = random.Random(RANDOM_SEED)
    now = (now or utcnow()).replace(microsecond=0)
    micro = session.execute(
        sa.select(Unit.id, Unit.households)
        .where(in_subtree(Unit.path, district.path), Unit.level == Level.MICROGRID, Unit.active)
        .order_by(Unit.id)
    ).all()
    weights = [households or 1 for _id, households in micro]
    starts = sorted(now - timedelta(minutes=rng.randint(0, DAYS_OF_HISTORY * 24 * 60)) for _ in range(count))
    for number, start in enumerate(starts):
        origin_id = rng.choices(micro, weights=weights)[0][0]
        _one_case(session, rng=rng, origin_id=origin_id, start=start, now=now, actors=stations)
        if number % 200 == 199:
            session.commit()
            if progress:
                progress(200)
    session.commit()
    if progress:
        progress(count % 200)
    sweep.sweep(session, now=now)  # what the clock says today: overdue ones go up or turn red
    return count


def _one_case(session, *, rng, origin_id, start, now, actors):
    category = _pick(rng, CATEGORIES)
    grade = _pick(rng, GRADES)
    people = rng.choice([1, 2, 2, 2, 3, 4, 5, 8]) if rng.random() > 0.03 else rng.randint(30, 60)
    parties = [
        {"role": role, "name": rng.choice(SURNAMES) + rng.choice("明华强芳军秀英丽伟勇"),
         "phone": f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"}
        for role in ("applicant", "respondent")
    ]
    origin = session.get(Unit, origin_id)
    case, _ = service.create_case(
        session, actor=actors.logger(origin), title=rng.choice(TITLES[category]), category=category, risk_grade=grade,
        source=_pick(rng, SOURCES), origin_unit_id=origin_id, people_involved=people,
        amount_in_dispute=rng.choice([None, None, 800, 3500, 12000, 46000]) if category in
        (Category.LABOUR, Category.CONSUMER, Category.TRAFFIC_INJURY) else None,
        parties=parties, now=start,
    )
    clock = _Clock(rng, start, now)
    age_days = (now - start).days
    # Recent cases are still open; older ones mostly settled.
    fate = rng.random()
    if age_days < 3 or (age_days < 14 and fate < 0.3):
        _leave_open(session, case, rng=rng, clock=clock, actors=actors)
        return
    if fate < 0.02:
        _act(session, case, "reject", clock.step(hours=3), actors, reason="duplicate", note="与已登记案件重复")
        return
    climbs = _pick(rng, CLIMB)
    for _ in range(climbs):
        if case.owner_level.value == "district":
            break
        _act(session, case, "accept", clock.step(hours=2), actors)
        _act(session, case, "record_attempt", clock.step(hours=8), actors, outcome=Outcome.FAILURE, notes="双方分歧较大，调解未成")
        _act(session, case, "escalate", clock.step(hours=1), actors, reason=EscalationReason.MEDIATION_FAILED)
    _act(session, case, "accept", clock.step(hours=3), actors)
    if case.category is Category.LABOUR and rng.random() < 0.2:
        _act(session, case, "refer", clock.step(hours=6), actors, channel=ReferralChannel.LABOUR_ARBITRATION,
             external_reference=f"泸纳劳仲{rng.randint(100, 999)}号")
        _act(session, case, "return_from_referral", clock.step(days=12), actors, outcome="arbitration_award")
    late = rng.random() < 0.12  # some take longer than their deadline
    _act(session, case, "record_attempt", clock.step(hours=rng.randint(4, 60 if late else 20)), actors,
         outcome=Outcome.SUCCESS, notes="双方达成调解协议")
    _act(session, case, "resolve", clock.step(hours=1), actors, note="签订调解协议书")
    if clock.now - clock.t < timedelta(hours=30):
        return  # resolved lately; verification pending
    _act(session, case, "close", clock.step(hours=rng.randint(4, 30)), actors, verifier=True)
    if rng.random() < 0.6 and clock.room(days=2):
        _act(session, case, "follow_up", clock.step(days=2), actors, satisfaction=rng.choice([5, 5, 5, 4, 4, 3, 2]))
    if rng.random() < 0.04 and clock.room(days=1) and clock.now - clock.t < timedelta(days=25):
        _act(session, case, "reopen", clock.step(days=1), actors, reason="申请人对调解结果提出异议")


def _leave_open(session, case, *, rng, clock, actors):
    where = rng.random()
    if where < 0.35:
        return  # reported, waiting to be accepted
    _act(session, case, "accept", clock.step(hours=2), actors)
    if where < 0.6:
        return
    _act(session, case, "record_attempt", clock.step(hours=6), actors, outcome=Outcome.PARTIAL, notes="初步沟通")
    if 0.84 < where <= 0.92:
        _act(session, case, "refer", clock.step(hours=4), actors, channel=ReferralChannel.LEGAL_AID,
             external_reference=f"纳法援{rng.randint(100, 999)}号")
    if where > 0.92:
        _act(session, case, "suspend", clock.step(hours=2), actors, reason="当事人外出务工，待返乡后继续调解")


class _Clock:
    """Moves forward through a case's life, never past today."""

    def __init__(self, rng, start, now):
        self.rng, self.t, self.now = rng, start, now

    def step(self, *, hours=0, days=0):
        gap = timedelta(hours=hours * self.rng.uniform(0.5, 1.5), days=days)
        self.t = min(self.t + gap, self.now - timedelta(minutes=1))
        return self.t

    def room(self, *, days):
        return self.t + timedelta(days=days) < self.now


def _act(session, case, action, at, actors: Stations, verifier=False, **params):
    """As the station whose turn it is (``Stations``); the timeline must not name someone who
    could not have acted."""
    actor = actors.verifier(case) if verifier else actors.handler(case)
    service.act(session, case=case, action=action, actor=actor, version=None, params=params, now=at)


def _within(actor: Principal, path: str) -> Principal | None:
    """``actor`` if it could act on what lies at ``path`` (in use, its scope holds it)."""
    return actor if actor.active and paths.is_descendant_or_self(path, actor.scope_path or "") else None
