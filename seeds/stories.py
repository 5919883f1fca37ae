"""The district's two stories, told through the same service functions as real use.

1. An elderly resident is knocked down by a motorcycle. The neighbourhood's guard scans the
   micro-grid's report code; the triage desk dispatches it to the street (属地街道) the same
   morning; the street settles it in three days.
2. Eighteen workers of a labour-service company are owed their wages. The report goes to the
   street, which gives it to the labour-dispute mediation studio; the company will not come, so
   the workers get legal aid, go to labour arbitration, and then to court; the judgment is not
   paid and the case moves into enforcement.

Each runs on dates in the past, relative to today, so that the timelines read as the stories do.
"""

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gridgov.auth.models import Principal
from gridgov.cases import calendar
from gridgov.cases import service as case_service
from gridgov.cases.enums import Category, Outcome, ReferralChannel, RiskGrade
from gridgov.cases.models import Case
from gridgov.people.models import Studio
from gridgov.reports import service as report_service
from gridgov.reports.models import Channel, Report
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree

INJURY = "小区门口一名七十多岁的老人被一辆摩托车撞倒，腿部受伤，骑车人还在现场，双方对赔偿有争执。"
WAGES = "我们18名工人在某建筑劳务公司做工，公司拖欠2026年5月至8月工资共计36万元，多次讨要未果。"


def seed(session: Session, *, district_code: str, accounts: dict[str, Principal], today) -> list[str]:
    """Both stories, unless they are there already; the case references made."""
    district = session.scalar(sa.select(Unit).where(Unit.code == district_code))
    told = set(session.scalars(sa.select(Report.description).where(Report.description.in_([INJURY, WAGES]))))
    made = []
    if INJURY not in told:
        made.append(_injury(session, district=district, accounts=accounts, start=_working_morning(today, 10)))
    if WAGES not in told:
        made.append(_wages(session, district=district, accounts=accounts, start=_working_morning(today, 90)))
    return made


def _working_morning(today, days_ago: int) -> datetime:
    """09:00 on the first working day at least ``days_ago`` days before ``today``."""
    day = today - timedelta(days=days_ago)
    while not calendar.is_working_day(day)[0]:
        day -= timedelta(days=1)
    return datetime.combine(day, time(9, 0), tzinfo=calendar.TIMEZONE)


def _microgrid(session: Session, *, under_code: str) -> Unit:
    under = session.scalar(sa.select(Unit).where(Unit.code == under_code))
    return session.scalar(
        sa.select(Unit).where(in_subtree(Unit.path, under.path), Unit.level == Level.MICROGRID, Unit.active)
        .order_by(Unit.path)
    )


def _act(session, case: Case, action: str, actor: Principal, at: datetime, **params) -> Case:
    return case_service.act(session, case=case, action=action, actor=actor, version=case.version, params=params,
                            now=at)


def _injury(session: Session, *, district: Unit, accounts: dict, start: datetime) -> str:
    triage, street, command = accounts["naxi.triage"], accounts["naxi.town"], accounts["naxi.command"]
    where = _microgrid(session, under_code="510503001001")  # 安富街道, the demo street's first community
    report = report_service.submit_report(
        session, unit=where, channel=Channel.QR, category=Category.TRAFFIC_INJURY, description=INJURY,
        phone="13908301234", now=start + timedelta(minutes=20),
    )
    report = report_service.triage(
        session, report_id=report.id, action="classify", actor=triage, now=start + timedelta(minutes=50),
        params={"risk_grade": RiskGrade.YELLOW},
    )
    report = report_service.triage(
        session, report_id=report.id, action="dispatch", actor=triage, now=start + timedelta(hours=1),
        params={"title": "老人被摩托车撞伤赔偿纠纷", "people_involved": 2},
    )
    case = case_service.get_case(session, case_id=report.case_id)
    day = timedelta(days=1)
    _act(session, case, "accept", street, start + timedelta(hours=1, minutes=30),
         note="街道综治中心受理，通知社区网格员和驻格民警到场")
    _act(session, case, "record_attempt", street, start + timedelta(hours=6), outcome=Outcome.PARTIAL,
         by="社区网格员、驻格民警", notes="民警认定骑车人负主要责任；老人送医检查，双方同意待检查结果后再谈赔偿")
    _act(session, case, "record_attempt", street, start + 2 * day + timedelta(hours=1), outcome=Outcome.SUCCESS,
         by="街道人民调解委员会", notes="双方达成调解协议：骑车人赔偿医疗费、误工费等共计8600元，当场支付")
    _act(session, case, "resolve", street, start + 2 * day + timedelta(hours=2), note="调解协议已履行")
    _act(session, case, "close", command, start + 3 * day, note="回访老人家属，确认赔偿到位，核查结案")
    _act(session, case, "follow_up", command, start + 5 * day, satisfaction=5, comment="家属对处理结果满意")
    return case.reference


def _wages(session: Session, *, district: Unit, accounts: dict, start: datetime) -> str:
    triage, street = accounts["naxi.triage"], accounts["naxi.town"]
    where = _microgrid(session, under_code="510503001002")  # a second community of 安富街道
    studio = session.scalar(
        sa.select(Studio).where(Studio.district_id == district.id, Studio.name == "劳动争议调解工作室")
    )
    report = report_service.submit_report(
        session, unit=where, channel=Channel.QR, category=Category.LABOUR, description=WAGES,
        phone="13700830001", now=start + timedelta(minutes=5),
    )
    report = report_service.triage(
        session, report_id=report.id, action="dispatch", actor=triage, now=start + timedelta(hours=1),
        params={"title": "某建筑劳务公司拖欠18名工人工资", "risk_grade": RiskGrade.ORANGE, "people_involved": 18},
    )
    case = case_service.get_case(session, case_id=report.case_id)
    day = timedelta(days=1)
    _act(session, case, "accept", street, start + timedelta(hours=2), note="街道受理，涉及18人，交劳动争议调解工作室")
    if studio is not None:
        _act(session, case, "assign", street, start + timedelta(hours=2, minutes=10), studio_id=studio.id)
    _act(session, case, "record_attempt", street, start + 2 * day, outcome=Outcome.FAILURE,
         by="劳动争议调解工作室", notes="两次通知公司负责人到场调解，均拒不到场")
    _act(session, case, "refer", street, start + 3 * day, channel=ReferralChannel.LEGAL_AID,
         external_reference="纳法援〔2026〕第0412号", note="为18名工人申请法律援助")
    _act(session, case, "return_from_referral", street, start + 5 * day, outcome="legal_aid_granted",
         note="区法律援助中心指派律师代理")
    _act(session, case, "refer", street, start + 6 * day, channel=ReferralChannel.LABOUR_ARBITRATION,
         external_reference="泸纳劳人仲案字〔2026〕第87号", note="律师代为申请劳动仲裁")
    _act(session, case, "return_from_referral", street, start + 40 * day, outcome="arbitration_award",
         note="仲裁裁决公司支付拖欠工资36万元；公司不服，向法院起诉")
    _act(session, case, "refer", street, start + 41 * day, channel=ReferralChannel.LITIGATION,
         external_reference="(2026)川0503民初2210号", note="诉非衔接：转入诉讼程序")
    _act(session, case, "return_from_referral", street, start + 70 * day, outcome="judgment",
         note="法院判决驳回公司诉讼请求，公司应支付工资36万元；判决生效后公司仍未履行")
    _act(session, case, "refer", street, start + 72 * day, channel=ReferralChannel.LITIGATION,
         external_reference="(2026)川0503执1187号", note="工人申请强制执行，进入执行程序")
    return case.reference
