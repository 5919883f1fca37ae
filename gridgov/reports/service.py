"""Residents' reports, from the QR code (or Open311) through the triage desk into a case.

A report is bound to the unit whose code was scanned (or that Open311's location maps to). The
triage clerk (信息清洗员) checks each one the same working day and does one of four things:
classify it, merge it into another report or a case, reject it, or dispatch it, which makes a
case owned as the case policy says. The reporter follows it at ``/t/<tracking code>``.
"""

import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, request
from sqlalchemy.orm import Session, aliased, raiseload

from gridgov.auth import audit
from gridgov.auth.models import Principal
from gridgov.auth.scope import UNSCOPED
from gridgov.cases import calendar
from gridgov.cases import service as case_service
from gridgov.cases.enums import CATEGORY_TITLES, OPEN_STATUSES, Category, PartyRole, ReferralChannel, Source, Status
from gridgov.cases.enums import RejectionReason as CaseRejectionReason
from gridgov.cases.models import Case, CaseEvent
from gridgov.db import utcnow
from gridgov.errors import Conflict, InvalidInput, NotFound, RuleViolation
from gridgov.reports.models import Channel, RejectionReason, Report, ReportCode, ReportStatus
from gridgov.tree import paths
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level, typed_code
from gridgov.tree.models import Unit, in_subtree

# Units that post a QR code: where residents live and grid workers walk.
REPORTING_LEVELS = frozenset({Level.VILLAGE, Level.GRID, Level.MICROGRID})
# Units a sheet of their micro-grids' codes is printed for.
SHEET_LEVELS = frozenset({Level.VILLAGE, Level.GRID})
TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud over the phone
TRACKING_LENGTH = 10  # 50 bits: not guessable, short enough to write down
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,43}")  # what secrets.token_urlsafe makes


# --- report codes -------------------------------------------------------------------------------


def report_code(session: Session, *, unit: Unit) -> ReportCode:
    """The unit's report code, made the first time it is asked for."""
    if unit.level not in REPORTING_LEVELS:
        raise RuleViolation(f"Report codes are posted in villages, grids and micro-grids, not in a {unit.level}.")
    if not unit.active:  # its code would lead residents to "二维码无效"
        raise RuleViolation(f"{unit.name} is no longer in use; its code takes no reports.")
    code = session.scalar(sa.select(ReportCode).where(ReportCode.unit_id == unit.id))
    if code is None:
        code = ReportCode(unit_id=unit.id, token=secrets.token_urlsafe(16), created_at=utcnow())
        try:
            with session.begin_nested():
                session.add(code)
        except sa.exc.IntegrityError:  # made by a request racing this one
            code = session.scalar(sa.select(ReportCode).where(ReportCode.unit_id == unit.id))
    return code


def sheet_units(session: Session, *, unit: Unit) -> list[Unit]:
    """The micro-grids in use whose codes a village's or a grid's printed sheet holds."""
    if unit.level not in SHEET_LEVELS:
        raise RuleViolation("A sheet is printed for a village or a grid.")
    if not unit.active:
        raise RuleViolation(f"{unit.name} is no longer in use; no codes are printed for it.")
    below = tree_service.descendants(session, unit=unit, level=Level.MICROGRID, after_path=None, limit=10_000)
    return [microgrid for microgrid in below if microgrid.active]


def rotate_code(session: Session, *, unit: Unit) -> ReportCode:
    """A new token for the unit: codes printed before stop working (a defaced or misused sign)."""
    code = report_code(session, unit=unit)
    code.token = secrets.token_urlsafe(16)
    code.created_at = utcnow()
    audit.record_unit(session, action="unit.report_code.rotate", unit=unit)
    session.flush()
    return code


def report_codes(session: Session, *, units: list[Unit]) -> dict[int, ReportCode]:
    """Codes of many units at once (the printable sheet), made where missing."""
    known = {
        code.unit_id: code
        for code in session.scalars(sa.select(ReportCode).where(ReportCode.unit_id.in_([u.id for u in units])))
    }
    for unit in units:
        if unit.id not in known:
            known[unit.id] = report_code(session, unit=unit)
    return known


def report_url(token: str) -> str:
    """The absolute address a QR code carries: ``GRIDGOV_PUBLIC_URL`` or, unset, this host."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return f"{base.rstrip('/')}/r/{token}"


def unit_for_token(session: Session, *, token: str) -> Unit:
    """The unit behind a scanned code; unknown or rotated codes are not found."""
    unit = None if not TOKEN_PATTERN.fullmatch(token) else session.scalar(
        sa.select(Unit).join(ReportCode, ReportCode.unit_id == Unit.id)
        .where(ReportCode.token == token, Unit.active.is_(True))
        .execution_options(**UNSCOPED)
    )
    if unit is None:
        raise NotFound("This report code is not valid (it may have been replaced by a new one).")
    return unit


# --- filing -------------------------------------------------------------------------------------


def is_web_link(text: str) -> bool:
    """A photo link a resident may leave: http or https, nothing a browser would run."""
    return text.lower().startswith(("http://", "https://"))


def submit_report(
    session: Session,
    *,
    unit: Unit,
    channel: Channel,
    category: Category,
    description: str,
    media_url: str | None = None,
    anonymous: bool = False,
    reporter_name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    address: str | None = None,
    filed_by: Principal | None = None,
    submission: str | None = None,
    now: datetime | None = None,
) -> Report:
    """A pending report in ``unit``, due at the triage desk by the end of the working day; or,
    for a ``submission`` (a form's id) already filed, that report."""
    if unit.level not in REPORTING_LEVELS:
        raise RuleViolation(f"Reports are made in a village, grid or micro-grid, not in a {unit.level}.")
    description = description.strip()
    if not description:
        raise RuleViolation("Say what happened (description).", errors={"description": ["required"]})
    now = now or utcnow()
    due, provisional = calendar.end_of_working_day(now)
    report = Report(
        tracking_code=_new_tracking_code(),
        district_id=unit.district_id,
        unit_id=unit.id,
        unit_path=unit.path,
        channel=channel,
        filed_by_id=filed_by.id if filed_by else None,
        category=category,
        description=description,
        media_url=media_url or None,
        anonymous=anonymous,
        # Someone who asks not to be known leaves nothing that could name them.
        reporter_name=None if anonymous else (reporter_name or None),
        phone=None if anonymous else (phone or None),
        email=None if anonymous else (email or None),
        latitude=latitude,
        longitude=longitude,
        address=address or None,
        status=ReportStatus.PENDING,
        submitted_at=now,
        triage_due_at=due,
        triage_due_provisional=provisional,
        updated_at=now,
        submission=submission,
    )
    if submission is None:
        session.add(report)
        session.flush()
        return report
    try:
        with session.begin_nested():  # added inside: begin_nested flushes what is pending first
            session.add(report)
            session.flush()
    except sa.exc.IntegrityError:  # the same form, sent again while this one was on its way
        earlier = find_by_submission(session, submission=submission)
        if earlier is None:
            raise
        return earlier
    return report


def find_by_submission(session: Session, *, submission: str) -> Report | None:
    return session.scalar(sa.select(Report).where(Report.submission == submission).execution_options(**UNSCOPED))


def typed_tracking_code(text: str) -> str:
    """A tracking code as people type it (into the lookup box, or a link): case, separators and
    full-width forgiven; letters and digits of the code's alphabet are what is left."""
    return "".join(char for char in unicodedata.normalize("NFKC", text) if char.isascii() and char.isalnum()).upper()


def find_by_tracking_code(session: Session, *, tracking_code: str) -> Report | None:
    """Unscoped: the code is the reporter's key."""
    code = typed_tracking_code(tracking_code)
    if len(code) != TRACKING_LENGTH or not set(code) <= set(TRACKING_ALPHABET):
        return None  # nothing could have it (and a NUL byte must not reach the database)
    return session.scalar(sa.select(Report).where(Report.tracking_code == code).execution_options(**UNSCOPED))


def _new_tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


# --- the triage desk ----------------------------------------------------------------------------


def get_report(session: Session, *, report_id: int, for_update: bool = False) -> Report:
    """In the caller's scope, or 404; ``for_update`` locks the row for an action."""
    statement = sa.select(Report).where(Report.id == report_id)
    if for_update:
        # populate_existing: what the lock protects is the row as it is now, not as loaded before
        statement = statement.with_for_update().execution_options(populate_existing=True)
    report = session.scalar(statement)
    if report is None:
        raise NotFound(f"Report {report_id} does not exist here.")
    return report


def _lock(session: Session, report_ids: list[int]) -> None:
    """Lock these reports (those in scope) in id order."""
    session.execute(
        sa.select(Report.id).where(Report.id.in_(report_ids)).order_by(Report.id).with_for_update()
    ).all()


def list_reports(session: Session, *, after_id: int | None, limit: int, status=None, overdue=None,
                 unit_id=None, now: datetime | None = None) -> list[Report]:
    """Oldest first: the desk works through them in the order they came."""
    now = now or utcnow()
    statement = sa.select(Report).order_by(Report.id).limit(limit + 1)
    if after_id is not None:
        statement = statement.where(Report.id > after_id)
    if status is not None:
        statement = statement.where(Report.status == status)
    if overdue is not None:
        late = sa.and_(Report.status == ReportStatus.PENDING, Report.triage_due_at < now)
        statement = statement.where(late if overdue else sa.not_(late))
    if unit_id is not None:
        unit = tree_service.get_unit(session, unit_id=unit_id)
        statement = statement.where(in_subtree(Report.unit_path, unit.path))
    return list(session.scalars(statement))


def recount_triage_due(session: Session, *, batch_size: int = 1000) -> int:
    """Count provisional due times again, on the holiday data installed now (the sweep's part for
    reports); commits batch by batch. Returns how many moved."""
    changed, last_id = 0, 0
    while True:
        reports = session.scalars(
            sa.select(Report)
            .where(Report.triage_due_provisional, Report.id > last_id)
            .order_by(Report.id).limit(batch_size).with_for_update(skip_locked=True)
            .execution_options(**UNSCOPED)
        ).all()
        if not reports:
            break
        for report in reports:
            # Handled ones too: whether the desk was in time is judged against the true due time.
            due, provisional = calendar.end_of_working_day(report.submitted_at)
            changed += due != report.triage_due_at
            report.triage_due_at, report.triage_due_provisional = due, provisional
        session.commit()
        last_id = reports[-1].id
    return changed


def is_overdue(report: Report, *, now: datetime | None = None) -> bool:
    """Still pending after the end of its working day."""
    return report.status is ReportStatus.PENDING and (now or utcnow()) > report.triage_due_at


@dataclass(frozen=True)
class TriageAction:
    required: frozenset[str]
    optional: frozenset[str]
    meaning: str


# Every action is taken on a pending report; what each needs, in one place.
TRIAGE_ACTIONS: dict[str, TriageAction] = {
    "classify": TriageAction(frozenset(), frozenset({"category", "risk_grade"}),
                             "set the category and/or risk grade; the report stays pending"),
    "merge": TriageAction(frozenset(), frozenset({"report_id", "case_id"}),
                          "a duplicate: follow another report (report_id) or an existing case (case_id)"),
    "reject": TriageAction(frozenset({"reason"}), frozenset({"note"}),
                           "spam, out of scope or nothing to act on; the reporter sees the reason"),
    "dispatch": TriageAction(frozenset(), frozenset({"category", "risk_grade", "title", "people_involved"}),
                             "make the case (source citizen_report), owned as the case policy says"),
}


def triage(session: Session, *, report_id: int, action: str, actor: Principal | None, params: dict,
           now: datetime | None = None) -> Report:
    """Take ``action`` on a pending report. The row is locked first: two clerks cannot both
    dispatch one report. A merge locks its target too, both in id order: two clerks merging two
    reports into each other then take turns, and the second finds the first's merge."""
    now = now or utcnow()
    if action == "merge" and params.get("report_id") is not None:
        _lock(session, [report_id, params["report_id"]])
    if action == "dispatch":
        # The case it makes holds the lineage of the report's unit (create_case), waiting for a
        # move there; a move rewrites the report too. Held before the report is locked, or the
        # two would wait for each other.
        unit_id = session.scalar(sa.select(Report.unit_id).where(Report.id == report_id))
        if unit_id is not None:
            session.execute(tree_service.SHARE_LINEAGE, {"unit_id": unit_id}).all()
    report = get_report(session, report_id=report_id, for_update=True)
    if report.status is not ReportStatus.PENDING:
        raise Conflict(f"Report {report.tracking_code} is {report.status} already; only pending reports are triaged.")
    HANDLERS[action](session, report, actor=actor, now=now, **params)
    report.updated_at = now
    session.flush()
    return report


def _classify(session, report, *, actor, now, category=None, risk_grade=None):
    if category is None and risk_grade is None:
        raise RuleViolation("Give a category, a risk grade or both.", errors={"category": ["or risk_grade"]})
    if category is not None:
        report.category = category
    if risk_grade is not None:
        report.risk_grade = risk_grade
    report.classified_at = now


def _merge(session, report, *, actor, now, report_id=None, case_id=None):
    if (report_id is None) == (case_id is None):
        raise RuleViolation("Merge into one report (report_id) or one case (case_id).",
                            errors={"report_id": ["exactly one of report_id, case_id"]})
    if case_id is not None:
        _join_case(session, report, case=case_service.get_case(session, case_id=case_id), actor=actor, now=now,
                   field="case_id")
        report.case_id = case_id
    else:
        target = _followed(session, get_report(session, report_id=report_id, for_update=True))
        if target.id != report_id:  # further along a chain of merges: lock where it ends, too
            target = get_report(session, report_id=target.id, for_update=True)
        if target.id == report.id:
            if report_id == report.id:
                raise RuleViolation("A report cannot be merged into itself.")
            raise RuleViolation(f"Report {report_id} is merged into this one already; dispatch or reject this one "
                                "instead.", errors={"report_id": ["merged into this report already"]})
        if target.status is ReportStatus.REJECTED:
            raise RuleViolation(f"Report {target.tracking_code} was rejected; reject this one too, or dispatch it.")
        if target.district_id != report.district_id:
            raise RuleViolation(f"Report {target.tracking_code} was filed in another district; dispatch this one.",
                                errors={"report_id": ["filed in another district"]})
        if target.case_id is not None:  # dispatched (or merged into a case): this one joins that case
            case = session.scalar(sa.select(Case).where(Case.id == target.case_id).execution_options(**UNSCOPED))
            _join_case(session, report, case=case, actor=actor, now=now, field="report_id")
        report.merged_into_id = target.id
    _handled(report, actor=actor, now=now, status=ReportStatus.MERGED)


def _join_case(session, report, *, case: Case, actor, now, field: str) -> None:
    """A report merged into a case, directly or through the report that made it: refused once
    the case is over (nobody would hear of it; a closed case is reopened by its owner, on the
    applicant's word), else its handlers hear that one more resident reported it."""
    case_service.hold_as_it_is(session, case)
    # A city-wide desk sees every district's; each district's cases are its own to handle.
    if case.district_id != report.district_id:
        raise RuleViolation(f"Case {case.reference} is another district's; dispatch this report as a new case.",
                            errors={field: ["another district's case"]})
    if case.status in (Status.CLOSED, Status.REJECTED):
        raise RuleViolation(f"Case {case.reference} is {case.status}; dispatch this report as a new case.",
                            errors={field: [f"its case is {case.status}"]})
    for joining in [report, *_merged_into(session, report)]:
        case_service.note_merged_report(session, case=case, actor=actor, now=now,
                                        report_id=joining.id, tracking_code=joining.tracking_code)


def _reject(session, report, *, actor, now, reason, note=None):
    report.rejection_reason = reason
    report.rejection_note = note
    _handled(report, actor=actor, now=now, status=ReportStatus.REJECTED)


def _dispatch(session, report, *, actor, now, category=None, risk_grade=None, title=None, people_involved=1):
    category = category or report.category
    risk_grade = risk_grade or report.risk_grade
    if risk_grade is None:
        raise RuleViolation("Grade the risk before dispatching (risk_grade).", errors={"risk_grade": ["required"]})
    unit = tree_service.get_unit(session, unit_id=report.unit_id)
    parties = []
    if not report.anonymous and (report.reporter_name or report.phone):
        parties.append({"role": PartyRole.APPLICANT, "name": report.reporter_name or "反映人", "phone": report.phone})
    description = report.description + (f"\n\n照片：{report.media_url}" if report.media_url else "")
    case, _created = case_service.create_case(
        session,
        actor=actor,
        title=title or f"{CATEGORY_TITLES[category]}（群众反映 · {unit.name}）",
        category=category,
        risk_grade=risk_grade,
        source=Source.CITIZEN_REPORT,
        origin_unit_id=unit.id,
        description=description,
        people_involved=people_involved,
        parties=parties,
        now=now,
        allow_inactive_origin=True,  # the report was accepted at its unit: the clerk cannot move it
    )
    report.category, report.risk_grade = category, risk_grade
    report.case_id = case.id
    _handled(report, actor=actor, now=now, status=ReportStatus.DISPATCHED)
    # Those merged into this one before it was dispatched: the case's handlers hear of them too.
    for duplicate in _merged_into(session, report):
        case_service.note_merged_report(session, case=case, actor=actor, now=now, report_id=duplicate.id,
                                        tracking_code=duplicate.tracking_code)


def _handled(report: Report, *, actor, now, status: ReportStatus) -> None:
    report.status = status
    report.handled_at = now
    report.handled_by_id = actor.id if actor else None


HANDLERS = {"classify": _classify, "merge": _merge, "reject": _reject, "dispatch": _dispatch}
assert set(HANDLERS) == set(TRIAGE_ACTIONS)


def _merged_into(session: Session, report: Report) -> list[Report]:
    """Every report merged into ``report``, directly or along a chain (A into B, B into this one),
    in id order."""
    found, frontier = [], [report.id]
    while frontier:
        step = list(session.scalars(sa.select(Report).where(Report.merged_into_id.in_(frontier))
                                    .execution_options(**UNSCOPED)))
        step = [merged for merged in step if merged.id != report.id and merged not in found]
        found += step
        frontier = [merged.id for merged in step]
    return sorted(found, key=lambda merged: merged.id)


def _followed(session: Session, report: Report) -> Report:
    """The report a merged one follows, to the end of the chain."""
    seen = set()
    while report.merged_into_id is not None and report.id not in seen:
        seen.add(report.id)
        report = session.scalar(
            sa.select(Report).where(Report.id == report.merged_into_id).execution_options(**UNSCOPED)
        )
    return report


def case_id_of(session: Session, report: Report) -> int | None:
    """The id of the case a report became or was merged into, following merges: a report merged
    into another has its case once that one is dispatched."""
    return _followed(session, report).case_id


def case_ids_of(session: Session, reports: list[Report]) -> dict[int, int | None]:
    """``case_id_of`` for a page of reports: the merge chains followed a step at a time for all
    of them (a query per step, not per report)."""
    found = {report.id: report.case_id for report in reports if report.merged_into_id is None}
    following = {report.id: report.merged_into_id for report in reports if report.merged_into_id is not None}
    for _step in range(len(reports) + 1):  # a chain is no longer than the reports merged along it
        if not following:
            break
        targets = {row.id: row for row in session.execute(
            sa.select(Report.id, Report.merged_into_id, Report.case_id)
            .where(Report.id.in_(set(following.values()))).execution_options(**UNSCOPED))}
        ahead = {}
        for report_id, target_id in following.items():
            target = targets.get(target_id)
            if target is None or target.merged_into_id is None:
                found[report_id] = target.case_id if target is not None else None
            else:
                ahead[report_id] = target.merged_into_id
        following = ahead
    return {**found, **dict.fromkeys(following)}


def case_of(session: Session, report: Report) -> Case | None:
    """The case a report became or was merged into, following merges; unscoped (public)."""
    case_id = case_id_of(session, report)
    if case_id is None:
        return None
    return session.scalar(sa.select(Case).where(Case.id == case_id).execution_options(**UNSCOPED))


# --- the reporter's view ------------------------------------------------------------------------

REJECTION_WORDS = {
    RejectionReason.SPAM: "经核实，该反映无有效内容",
    RejectionReason.OUT_OF_SCOPE: "该事项不属于社会治理中心受理范围，请向相关部门反映",
    RejectionReason.INVALID: "经核实，该反映无需处理",
}
STATUS_WORDS = {
    Status.REPORTED: "已分派至{owner}，等待受理",
    Status.ACCEPTED: "{owner}已受理",
    Status.IN_PROGRESS: "{owner}正在调处",
    Status.RESOLVED: "已化解，等待核查结案",
    Status.CLOSED: "已办结",
    Status.SUSPENDED: "暂缓办理",
    Status.REFERRED: "已转入{channel}程序",
    Status.REJECTED: "不予受理",
    Status.REOPENED: "已重新办理",
}
EVENT_WORDS = {
    "create": "已分派至{owner}",
    "accept": "{owner}已受理",
    "assign": "已安排调解人员",
    "record_attempt": "已开展调解",
    "escalate": "已提交{owner}办理",
    "delegate": "已交由{owner}办理",
    "transfer": "因区划调整，转由{owner}办理",
    "refer": "已转入{channel}程序",
    "return_from_referral": "{channel}程序已有结果，继续办理",
    "suspend": "暂缓办理",
    "resume": "恢复办理",
    "resolve": "已化解",
    "close": "已核查结案",
    "send_back": "核查未通过，继续办理",
    "reopen": "已重新办理",
    "follow_up": "已回访",
    "reject": "不予受理",
}
# A handler's rejection of the case, by its reason.
CASE_REJECTION_WORDS = {
    CaseRejectionReason.DUPLICATE: "与其他相同反映合并办理",
    CaseRejectionReason.OUT_OF_SCOPE: REJECTION_WORDS[RejectionReason.OUT_OF_SCOPE],
    CaseRejectionReason.INVALID: REJECTION_WORDS[RejectionReason.INVALID],
}
CHANNEL_WORDS = {
    ReferralChannel.LEGAL_AID: "法律援助",
    ReferralChannel.LABOUR_ARBITRATION: "劳动仲裁",
    ReferralChannel.LITIGATION: "诉讼",
}


WEEKDAYS = "一二三四五六日"


def due_day(moment: datetime) -> str:
    """The day a triage due time ends (it is that day's midnight), as a resident reads it:
    "11月30日（星期一）"."""
    day = (moment.astimezone(calendar.TIMEZONE) - timedelta(microseconds=1)).date()
    return f"{day.month}月{day.day}日（星期{WEEKDAYS[day.weekday()]}）"


def progress(session: Session, *, tracking_code: str) -> dict:
    """What the reporter may know, in plain words: stage and dated steps, no one's name, phone or
    the text of anyone's notes; only units, which are public."""
    report = find_by_tracking_code(session, tracking_code=tracking_code)
    if report is None:
        raise NotFound("No report has this tracking code.")
    unit = tree_service.get_unit_unscoped(session, unit_id=report.unit_id)
    steps = [(report.submitted_at, "已收到您的反映")]
    case = case_of(session, report)
    open_ = True
    if report.status is ReportStatus.PENDING:
        words = f"已收到，工作人员将于{due_day(report.triage_due_at)}内核实并分派"
    elif report.status is ReportStatus.REJECTED:
        words = REJECTION_WORDS[report.rejection_reason]
        steps.append((report.handled_at, words))
        open_ = False
    elif case is None:  # merged into a report still pending (or rejected)
        target = _followed(session, report)
        steps.append((report.handled_at, "与其他相同反映合并办理"))
        words = "与其他相同反映合并办理，" + ("等待核实分派" if target.status is ReportStatus.PENDING else
                                     REJECTION_WORDS.get(target.rejection_reason, "已处理"))
        open_ = target.status is ReportStatus.PENDING
    else:
        if report.status is ReportStatus.MERGED:
            steps.append((report.handled_at, "与其他相同反映合并办理"))
        case_events = list(session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                           .order_by(CaseEvent.id).execution_options(**UNSCOPED)))
        names = _unit_names(session, {event.to_owner_unit_id for event in case_events} | {case.owner_unit_id})
        channel = None  # the referral channel as it was at each event: events hold what changed
        for event in case_events:
            channel = (event.details or {}).get("changes", {}).get("referral_channel", channel)
            if event.at < report.submitted_at and report.status is ReportStatus.MERGED:
                continue  # a case's history from before this report was merged into it
            if event.action == "reject":
                steps.append((event.at, _rejection_words(event.reason)))
            elif event.action in EVENT_WORDS:  # the sweep's marks and the like are not news to the reporter
                steps.append((event.at, _words(EVENT_WORDS[event.action], owner=names.get(event.to_owner_unit_id),
                                               channel=channel)))
        words = status_words(case, owner_name=names.get(case.owner_unit_id))
        open_ = case.status in OPEN_STATUSES
    return {
        "tracking_code": report.tracking_code,
        "category": CATEGORY_TITLES[report.category],
        "unit": unit.name,
        "submitted_at": report.submitted_at,
        "stage": words,
        "open": open_,
        "case_reference": case.reference if case is not None else None,
        # In time order: a merge's step comes after what the case went through before it.
        "steps": sorted(steps, key=lambda step: step[0]),
    }


def status_words(case: Case, *, owner_name: str | None) -> str:
    """Where the case stands, in words a resident understands."""
    if case.status is Status.REJECTED:
        return _rejection_words(case.rejection_reason)
    return _words(STATUS_WORDS[case.status], owner=owner_name, channel=case.referral_channel)


def _rejection_words(reason: str | None) -> str:
    """A case's rejection, by its reason (an event's reason begins with it: "out_of_scope:
    属市场监管部门职责" → the words for out_of_scope); the handler's note is theirs, not the resident's."""
    return CASE_REJECTION_WORDS.get((reason or "").partition(":")[0], STATUS_WORDS[Status.REJECTED])


def _unit_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    rows = session.execute(sa.select(Unit.id, Unit.name).where(Unit.id.in_(ids - {None})).execution_options(**UNSCOPED))
    return dict(rows.all())


def _words(template: str, *, owner: str | None, channel) -> str:
    return template.format(owner=owner or "承办单位", channel=CHANNEL_WORDS.get(channel, "司法"))


def _reports_of_unit(session: Session, unit) -> str | None:
    """Residents reported here: the report (and the reporter's tracking page) must keep its unit."""
    used = session.scalar(
        sa.select(Report.id).where(Report.unit_id == unit.id).limit(1).execution_options(**UNSCOPED)
    )
    return f"Residents' reports were made in unit {unit.code}; deactivate it instead." if used else None


tree_service.DELETE_GUARDS.append(_reports_of_unit)


# --- Open311 ---------------------------------------------------------------------------------------


def _reporting_units(district: Unit):
    return (
        sa.select(Unit)
        .where(in_subtree(Unit.path, district.path), Unit.level.in_(REPORTING_LEVELS), Unit.active.is_(True))
        .execution_options(**UNSCOPED)
    )


KM_PER_DEGREE = 111.2
NEAREST_KM = 5  # a micro-grid is a few hundred metres across; a point farther off is not in it


def locate(session: Session, *, district: Unit, code, latitude, longitude, address) -> Unit:
    """The unit an Open311 request is about: by code, else the nearest micro-grid, else by name;
    ``InvalidInput`` (400) saying what to give when none fits."""
    if code is not None:
        code = typed_code(code)
        unit = session.scalar(_reporting_units(district).where(Unit.code == code)) if code.isdigit() else None
        if unit is None:
            raise InvalidInput(f"No village, grid or micro-grid of jurisdiction {district.code} has the code {code}.")
        return unit
    if latitude is not None:
        rows = session.execute(
            sa.select(Unit.id, Unit.latitude, Unit.longitude)
            .where(in_subtree(Unit.path, district.path), Unit.level == Level.MICROGRID, Unit.active.is_(True),
                   Unit.latitude.is_not(None), Unit.longitude.is_not(None))
            .execution_options(**UNSCOPED)
        ).all()
        if not rows:
            raise InvalidInput("No micro-grid of this jurisdiction has a location; give address_string or a code.")
        # Equirectangular distance: exact enough across a district, and no trigonometry per row.
        scale = math.cos(math.radians(latitude)) ** 2
        nearest = min(rows, key=lambda r: (r.latitude - latitude) ** 2 + scale * (r.longitude - longitude) ** 2)
        degrees = math.sqrt((nearest.latitude - latitude) ** 2 + scale * (nearest.longitude - longitude) ** 2)
        if degrees * KM_PER_DEGREE <= NEAREST_KM:
            return session.scalar(sa.select(Unit).where(Unit.id == nearest.id).execution_options(**UNSCOPED))
        if address is None:  # (0, 0) from a phone without a fix, another county: the address may say
            raise InvalidInput(f"lat and long lie more than {NEAREST_KM} km from every micro-grid of "
                               f"jurisdiction {district.code}; give address_string or a code.")
    if address is not None:
        return _named_in(session, district, address)
    raise InvalidInput("Say where: lat and long, address_string, address_id or attribute[unit_code].")


def _named_in(session: Session, district: Unit, address: str) -> Unit:
    """The village, grid or micro-grid an address names. Names repeat across a district (three
    villages called 丰收村 in three towns), so the unit whose town, village and grid the address
    also names comes first; then the longest name (a micro-grid's name usually holds its
    village's), the deepest on a tie. Two places still alike: 400, asking for a code."""
    rows = session.execute(
        sa.select(Unit.id, Unit.name, Unit.path, Unit.level)
        .where(in_subtree(Unit.path, district.path), Unit.level != Level.DISTRICT, Unit.active.is_(True))
        .execution_options(**UNSCOPED)
    ).all()
    # Both read as typed: "第１网格" names 第1网格 (full-width digits, as a Chinese input method types them).
    address = unicodedata.normalize("NFKC", address)
    name_at = {row.path: unicodedata.normalize("NFKC", row.name) for row in rows}

    def fit(row) -> tuple:
        above = [name_at.get(path) for path in paths.ancestor_paths(row.path)]
        return sum(1 for name in above if name and name in address), len(name_at[row.path]), len(row.path)

    named = sorted((row for row in rows if row.level in REPORTING_LEVELS and name_at[row.path] in address),
                   key=fit, reverse=True)
    if not named:
        raise InvalidInput("address_string names no village, grid or micro-grid of this jurisdiction.")
    if len(named) > 1 and fit(named[0]) == fit(named[1]):
        alike = [row for row in named if fit(row) == fit(named[0])]
        where = "、".join(" ".join(name_at.get(path, "") for path in paths.ancestor_paths(row.path)[1:] + [row.path])
                         for row in alike[:5])
        raise InvalidInput(f"address_string fits more than one place ({where}): name the town too, or give "
                           f"address_id or attribute[unit_code].")
    return session.scalar(sa.select(Unit).where(Unit.id == named[0].id).execution_options(**UNSCOPED))


def requests_query():
    """Each case a report became or was merged into (a resident's report of a matter the hotline
    had logged), once, as the report that made it made it (for a hotline's case, the first report
    merged into it): the request ``tokens`` names."""
    origin, owner, before = aliased(Unit), aliased(Unit), aliased(Report)
    dispatched, merged = ReportStatus.DISPATCHED, ReportStatus.MERGED
    return (
        sa.select(Report, Case, origin, owner)
        .join(Case, Case.id == Report.case_id)
        .join(origin, origin.id == Report.unit_id)
        .join(owner, owner.id == Case.owner_unit_id)
        .where(Report.status.in_([dispatched, merged]),
               ~sa.exists().where(before.case_id == Report.case_id, sa.or_(
                   sa.and_(before.status == dispatched, Report.status == merged),
                   sa.and_(before.status == merged, Report.status == merged, before.id < Report.id))))
        .options(raiseload(Case.parties), raiseload(Case.attachments))  # a request shows neither
        .execution_options(**UNSCOPED)
    )
