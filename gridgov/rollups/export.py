"""CSV for spreadsheets: UTF-8 with a byte-order mark (without it, Excel reads the Chinese text
as the local code page), Chinese headers, one row per unit or case."""

import csv
import io

import sqlalchemy as sa
from flask import Response

from gridgov.api import code_cell, inert_cell
from gridgov.auth.scope import UNSCOPED
from gridgov.cases import clock
from gridgov.cases.calendar import TIMEZONE
from gridgov.cases.models import Case
from gridgov.cases.enums import CATEGORY_TITLES, COLOUR_TITLES, RISK_TITLES, STATUS_TITLES
from gridgov.db import utcnow
from gridgov.tree.levels import CHINESE_NAME, Level
from gridgov.tree.models import Unit

MAX_ROWS = 100_000
BOM = "\ufeff"

ROLLUP_COLUMNS = [
    ("单位编码", lambda unit, t: code_cell(unit.code)),
    ("单位名称", lambda unit, t: unit.name),
    ("层级", lambda unit, t: CHINESE_NAME[unit.level]),
    ("案件总数", lambda unit, t: t["cases"]),
    ("在办", lambda unit, t: t["open"]),
    ("新增", lambda unit, t: t["new"]),
    ("化解", lambda unit, t: t["resolved"]),
    ("结案", lambda unit, t: t["closed"]),
    ("应结案", lambda unit, t: t["due_to_close"]),
    ("结案率", lambda unit, t: t["closure_rate"]),
    ("按期结案率", lambda unit, t: t["on_time_closure_rate"]),
    ("就地化解率（网格、村）", lambda unit, t: t["local_resolution_rate"]),
    ("镇及以下化解率", lambda unit, t: t["resolved_at_or_below_town_rate"]),
    ("上报至村", lambda unit, t: t["escalations"]["village"]),
    ("上报至镇", lambda unit, t: t["escalations"]["town"]),
    ("上报至区", lambda unit, t: t["escalations"]["district"]),
    ("化解用时中位数（工作日）", lambda unit, t: t["resolve_working_days"]["median"]),
    ("化解用时90分位（工作日）", lambda unit, t: t["resolve_working_days"]["p90"]),
    ("绿灯", lambda unit, t: t["deadline_colours"]["green"]),
    ("黄灯", lambda unit, t: t["deadline_colours"]["yellow"]),
    ("红灯（超期）", lambda unit, t: t["overdue"]),
    ("满意度", lambda unit, t: t["satisfaction"]),
    ("风险指数", lambda unit, t: t["risk_score"]),
]


def csv_response(rows, *, filename: str) -> Response:
    buffer = io.StringIO()
    buffer.write(BOM)
    csv.writer(buffer).writerows([[inert_cell(value) for value in row] for row in rows])
    response = Response(buffer.getvalue().encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


OWN_ROW = "（本级直接发生）"  # the unit's own cases, in no child: so the children add up


def rollup_rows(result: dict) -> list[list]:
    rows = [[title for title, _value in ROLLUP_COLUMNS]]
    for entry in [{"unit": result["unit"], "totals": result["totals"]}, *result["children"]]:
        rows.append([value(entry["unit"], entry["totals"]) for _title, value in ROLLUP_COLUMNS])
    if result["children"] and result["own"]["cases"]:
        own = [value(result["unit"], result["own"]) for _title, value in ROLLUP_COLUMNS]
        own[1] += OWN_ROW
        rows.insert(2, own)
    return rows


# What ``case_rows`` reads of each case: read as rows, a hundred thousand of them take seconds,
# where case objects (with their parties and attachments) took most of a minute.
CASE_COLUMNS = (Case.reference, Case.title, Case.category, Case.risk_grade, Case.status, Case.origin_unit_id,
                Case.owner_unit_id, Case.owner_level, Case.created_at, Case.deadline_at, Case.yellow_at,
                Case.deadline_provisional, Case.resolved_at, Case.closed_at)


def case_rows(session, cases) -> list[list]:
    """No personal data: references, what, where, who handles it, and when. ``cases``: rows of
    ``CASE_COLUMNS`` (or cases)."""
    unit_ids = {case.origin_unit_id for case in cases} | {case.owner_unit_id for case in cases}
    names = dict(session.execute(
        sa.select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids)).execution_options(**UNSCOPED)
    ).all()) if unit_ids else {}
    now = utcnow()

    def local(moment):
        return moment.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M") if moment else ""

    rows = [["案件编号", "标题", "类别", "风险等级", "状态", "发生地", "承办单位", "承办层级", "登记时间",
             "办理期限", "期限状态", "化解时间", "结案时间"]]
    for case in cases:
        colour = clock.colour(case, now=now)
        rows.append([
            case.reference, case.title, CATEGORY_TITLES[case.category], RISK_TITLES[case.risk_grade],
            STATUS_TITLES[case.status], names.get(case.origin_unit_id, ""), names.get(case.owner_unit_id, ""),
            CHINESE_NAME[Level(case.owner_level.value)], local(case.created_at),
            # Counted past the holiday data: a guess until the sweep counts it on the official calendar.
            local(case.deadline_at) + ("（暂定）" if case.deadline_at and case.deadline_provisional else ""),
            COLOUR_TITLES[colour] if colour else "",
            local(case.resolved_at), local(case.closed_at),
        ])
    return rows
