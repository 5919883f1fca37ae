"""The permission matrix: every endpoint × every role × a target in and out of the caller's scope.

Expected answers come from ``gridgov.auth.permissions`` alone: a role without the endpoint's
permission gets 403 (whatever the target or the body), a permitted role gets the endpoint's
success status for a target in its scope and 404 for one outside it (a unit, account or token
outside the subtree does not exist for them). Adding an endpoint without an entry in
``ENDPOINTS`` *and* in ``REQUESTS`` below fails ``test_every_route_is_in_the_tables``.

The world, on the tree of ``conftest.SMALL_TREE_CSV``::

    510503 纳溪区
    ├── 510503001 安富街道
    │   ├── 510503001001 永安社区 (V1)  ← every caller under test is scoped here
    │   │   ├── G11 (M111, M112)          ← "inner", a second account, is scoped at G11
    │   │   └── G12 (M121)
    │   └── 510503001002 新民社区
    └── 510503100 大渡口镇
        └── 510503100201 金龙村 (V3)     ← "outer", an account out of scope, is scoped here
            └── G31 (M311)

Two cases, each with an attachment: "in" happened at M121 and is owned by its grid G12, inside
the caller's scope (not at M111: the matrix deletes M111, and a unit with cases may not be
deleted); "out" happened at M311 and is owned by G31, outside it. Both are ``reported`` and
assigned to nobody.

The roster (issue 5), made through ``gridgov.people.service``: inside the caller's scope a
mediator based in V1 (capacity 10: the village's mediator duty and micro-grids), a grid officer
based in V1 (capacity 2: both grids of V1) and a grid worker based in G11, so that every duty of
V1's subtree can be covered and planning it answers 200; outside it a mediator based in V3. A
studio sits in V1 ("in", the in-scope mediator its member) and one in V3 ("out"). Nothing is
planned with ``apply``: M111 has no current assignment, so the matrix may still delete it.

The world is built in app contexts of its own, not with the ``small_tree`` fixture: that fixture
keeps one app context (and so one ``g`` and one SQLAlchemy session) open for the whole test, and
the test client then runs every request inside it. ``session.get`` would answer from that
session's identity map, where ``small_tree`` left every unit, without the scope filter running.
Here, as in production, every request gets its own context and session.
"""

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa

from werkzeug.datastructures import FileStorage

from gridgov.auth.models import ApiToken, Principal
from gridgov.auth.permissions import ACTION_PERMISSIONS, ENDPOINTS, PUBLIC, Role, allows
from gridgov.cases import attachments, service as case_service
from gridgov.cases.enums import Category, RiskGrade, Source, Status
from gridgov.db import db, utcnow
from gridgov.people import service as people_service
from gridgov.reports import service as report_service
from gridgov.reports.models import Channel
from gridgov.tree import transfer
from gridgov.tree.models import Unit
from tests.conftest import SMALL_TREE_CSV, bearer_client

API = "/api/v1"
U = f"{API}/units"
P = f"{API}/principals"
C = f"{API}/cases"
W = f"{API}/workers"
S = f"{API}/studios"
R = f"{API}/reports"

V1 = "510503001001"  # 永安社区: the scope of every caller under test
G11, G12 = "510503001001001", "510503001001002"
M111, M112, M121 = "510503001001001001", "510503001001001002", "510503001001002001"
V3 = "510503100201"  # 金龙村, under 大渡口镇: out of scope
G31, M311 = "510503100201001", "510503100201001001"
CALLER_SCOPE = V1

# A 1×1 PNG (67 bytes, valid chunks and CRCs): attachments are judged by their content.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000a49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)
# The action the matrix sends to cases.Actions: accepting a reported case.
ACTION = "accept"


@dataclass(frozen=True)
class World:
    unit: dict[str, int]  # code → id
    inner: int  # an account scoped at G11, inside the caller's scope
    inner_token: int
    outer: int  # an account scoped at V3, outside it
    outer_token: int
    in_case: int  # happened at M121, owned by G12: inside the caller's scope
    in_case_version: int
    in_attachment: int
    out_case: int  # happened at M311, owned by G31: outside it
    out_case_version: int
    out_attachment: int
    in_worker: int  # a mediator based in V1, inside the caller's scope
    out_worker: int  # a mediator based in V3, outside it
    in_studio: int  # sits in V1; the in-scope mediator is its member
    out_studio: int  # sits in V3; the out-of-scope mediator is its member
    in_report: int  # a resident's pending report made at M112, inside the caller's scope
    out_report: int  # one made at M311, outside it


def case_body(origin_unit_id: int, title: str) -> dict:
    return {"title": title, "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
            "origin_unit_id": origin_unit_id}


def make_case(unit: dict[str, int], origin_code: str, owner_code: str, title: str) -> tuple[int, int, int]:
    """A reported case that happened at ``origin_code``, with a PNG attached: (case id, its
    version, the attachment's id). Needs an app context; no principal acts (no scope applies)."""
    case, created = case_service.create_case(
        db.session, actor=None, title=title, category=Category.FAMILY_NEIGHBOUR, risk_grade=RiskGrade.BLUE,
        source=Source.GRID_PATROL, origin_unit_id=unit[origin_code],
    )
    assert created and case.status is Status.REPORTED and case.assignee_id is None
    assert case.owner_unit_id == unit[owner_code], "policy should leave a blue family case with the grid"
    # Another file than the one the matrix sends: the same bytes again would answer 200, not 201.
    upload = FileStorage(stream=io.BytesIO(PNG + b"\0"), filename="photo.png", content_type="image/png")
    attachment, _ = attachments.add(db.session, case=case, actor=None, upload=upload)
    db.session.flush()
    return case.id, case.version, attachment.id


@pytest.fixture
def world(app, rollback, make_principal) -> World:
    with app.app_context():
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        db.session.commit()
        unit = dict(db.session.execute(sa.select(Unit.code, Unit.id)).all())
    inner, _ = make_principal("grid_worker", G11, username="matrix.inner")
    outer, _ = make_principal("grid_worker", V3, username="matrix.outer")
    with app.app_context():
        # The inner account is locked out, so that unlocking it has something to do.
        db.session.execute(
            sa.update(Principal)
            .where(Principal.id == inner)
            .values(failed_logins=5, locked_until=utcnow() + timedelta(minutes=15))
        )
        token_of = dict(
            db.session.execute(
                sa.select(ApiToken.principal_id, ApiToken.id).where(ApiToken.principal_id.in_([inner, outer]))
            ).all()
        )
        db.session.commit()
    with app.app_context():
        in_case, in_version, in_attachment = make_case(unit, M121, G12, "永安社区邻里纠纷")
        out_case, out_version, out_attachment = make_case(unit, M311, G31, "金龙村邻里纠纷")
        db.session.commit()
    with app.app_context():
        in_worker, out_worker, in_studio, out_studio = make_roster(unit)
        db.session.commit()
    with app.app_context():
        in_report, out_report = (
            report_service.submit_report(
                db.session, unit=db.session.get(Unit, unit[code]), channel=Channel.QR,
                category=Category.FAMILY_NEIGHBOUR, description="楼上漏水", phone="13800004001",
            ).id
            for code in (M112, M311)
        )
        db.session.commit()
    return World(unit=unit, inner=inner, inner_token=token_of[inner], outer=outer, outer_token=token_of[outer],
                 in_case=in_case, in_case_version=in_version, in_attachment=in_attachment,
                 out_case=out_case, out_case_version=out_version, out_attachment=out_attachment,
                 in_worker=in_worker, out_worker=out_worker, in_studio=in_studio, out_studio=out_studio,
                 in_report=in_report, out_report=out_report)


def make_roster(unit: dict[str, int]) -> tuple[int, int, int, int]:
    """Workers who can cover every duty of V1's subtree, one worker outside, a studio on each side:
    (in worker, out worker, in studio, out studio). Needs an app context; no principal acts."""
    mediator = people_service.create_worker(db.session, name="永安调解员", role="mediator", home_unit_id=unit[V1],
                                            capacity=10, phone="13800001001")
    # V1's two grids each need a grid officer based in the grid or its village.
    people_service.create_worker(db.session, name="永安驻格干警", role="grid_officer", home_unit_id=unit[V1],
                                 capacity=2, phone="13800001002")
    people_service.create_worker(db.session, name="永安网格员", role="grid_worker", home_unit_id=unit[G11],
                                 capacity=5, phone="13800001003")
    outsider = people_service.create_worker(db.session, name="金龙调解员", role="mediator",
                                            home_unit_id=unit[V3], capacity=10, phone="13800003001")
    in_studio = people_service.create_studio(db.session, name="永安家事邻里调解室", unit_id=unit[V1],
                                             specialties=["family_neighbour"], member_ids=[mediator.id])
    out_studio = people_service.create_studio(db.session, name="金龙家事邻里调解室", unit_id=unit[V3],
                                              specialties=["family_neighbour"], member_ids=[outsider.id])
    return mediator.id, outsider.id, in_studio.id, out_studio.id


# --- the requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    url: str
    json: object = None
    csv: str | None = None  # a text/csv body instead of JSON
    file: tuple[str, bytes] | None = None  # (filename, content): a multipart body with the field `file`


@dataclass(frozen=True)
class Spec:
    """How to call one endpoint: ``ok`` is its answer when permitted and in scope; ``variants``
    maps "in" (and, for endpoints with a target, "out…") to a request given the world."""

    ok: int
    variants: dict[str, Callable[[World], Req]]
    out_status: int = 404  # the answer, when permitted, to the "out…" variants
    # A permission the body asks for (a case action's own, ACTION_PERMISSIONS), checked before
    # the target is looked for: without it, 403 wherever the target is.
    body_needs: str | None = None
    # The "in" target is a case in scope assigned to nobody. A specialist sees only the cases
    # assigned to them (cases.models._case_criterion), so for them it does not exist: 404. That
    # is the rule, not a bug; test_a_specialist_sees_the_cases_assigned_to_them shows the other side.
    unassigned_case: bool = False

    def expected(self, role: Role, permission: str, where: str) -> int:
        if not allows(role, permission):
            return 403
        if self.body_needs is not None and not allows(role, self.body_needs):
            return 403
        if where != "in":
            return self.out_status
        if self.unassigned_case and role is Role.SPECIALIST:
            return 404
        return self.ok


def spec(ok: int, inside: Callable[[World], Req], *, out_status: int = 404, body_needs: str | None = None,
         unassigned_case: bool = False, **outside) -> Spec:
    return Spec(ok=ok, variants={"in": inside, **outside}, out_status=out_status, body_needs=body_needs,
                unassigned_case=unassigned_case)


def csv_row(code: str, name: str, level: str, parent_code: str) -> str:
    return f"code,name,level,parent_code\n{code},{name},{level},{parent_code}\n"


# (endpoint, method) → how to call it. Endpoints without a target (lists, /me) have "in" only;
# one that creates under a parent, or gives a scope, has "out" with that parent or scope outside.
REQUESTS: dict[tuple[str, str], Spec] = {
    # the tree
    ("units.Units", "GET"): spec(200, lambda w: Req(U)),
    ("units.Units", "POST"): spec(
        201,
        lambda w: Req(U, json={"name": "永安社区第3网格", "level": "grid", "parent_id": w.unit[V1]}),
        out=lambda w: Req(U, json={"name": "金龙村第2网格", "level": "grid", "parent_id": w.unit[V3]}),
    ),
    ("units.UnitById", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[M111]}"), out=lambda w: Req(f"{U}/{w.unit[M311]}")
    ),
    ("units.UnitById", "PATCH"): spec(
        200,
        lambda w: Req(f"{U}/{w.unit[M111]}", json={"name": "永安社区第1网格1号微网格（改）"}),
        out=lambda w: Req(f"{U}/{w.unit[M311]}", json={"name": "金龙村第1网格1号微网格（改）"}),
    ),
    ("units.UnitById", "DELETE"): spec(
        204, lambda w: Req(f"{U}/{w.unit[M111]}"), out=lambda w: Req(f"{U}/{w.unit[M311]}")
    ),
    ("units.UnitByCode", "GET"): spec(
        200, lambda w: Req(f"{U}/by-code/{M111}"), out=lambda w: Req(f"{U}/by-code/{M311}")
    ),
    ("units.Children", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[G11]}/children"), out=lambda w: Req(f"{U}/{w.unit[G31]}/children")
    ),
    ("units.Descendants", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[V1]}/descendants"), out=lambda w: Req(f"{U}/{w.unit[V3]}/descendants")
    ),
    ("units.Ancestors", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[M111]}/ancestors"), out=lambda w: Req(f"{U}/{w.unit[M311]}/ancestors")
    ),
    ("units.LowestCommonAncestor", "POST"): spec(
        200,
        lambda w: Req(f"{U}/lca", json={"unit_ids": [w.unit[M111], w.unit[M121]]}),
        # one unit outside is enough to make the question unanswerable
        out=lambda w: Req(f"{U}/lca", json={"unit_ids": [w.unit[M111], w.unit[M311]]}),
    ),
    ("units.Move", "POST"): spec(
        200,
        lambda w: Req(f"{U}/{w.unit[M112]}/move", json={"parent_id": w.unit[G12]}),
        out=lambda w: Req(f"{U}/{w.unit[M311]}/move", json={"parent_id": w.unit[G12]}),
        out_parent=lambda w: Req(f"{U}/{w.unit[M112]}/move", json={"parent_id": w.unit[G31]}),
    ),
    ("units.Export", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[V1]}/export"), out=lambda w: Req(f"{U}/{w.unit[V3]}/export")
    ),
    # An import names units by code in its body, not by id in its URL. A row naming a unit (or a
    # parent) outside the caller's scope is a bad line of the file: transfer.import_units lists it
    # with the other bad lines and refuses the whole file with 422, not 404.
    ("units.Import", "POST"): spec(
        200,
        lambda w: Req(f"{U}/import", csv=csv_row(M111, "永安社区第1网格1号微网格（导入）", "microgrid", G11)),
        out=lambda w: Req(f"{U}/import", csv=csv_row(M311, "金龙村第1网格1号微网格（导入）", "microgrid", G31)),
        out_parent=lambda w: Req(f"{U}/import", csv=csv_row(M111, "永安社区第1网格1号微网格", "microgrid", G31)),
        out_status=422,
    ),
    # accounts
    ("auth.Me", "GET"): spec(200, lambda w: Req(f"{API}/me")),
    ("auth.Token", "DELETE"): spec(204, lambda w: Req(f"{API}/auth/token")),  # the caller's own token
    ("auth.Permissions", "GET"): spec(200, lambda w: Req(f"{API}/permissions")),
    ("auth.Principals", "GET"): spec(200, lambda w: Req(P)),
    ("auth.Principals", "POST"): spec(
        201,
        lambda w: Req(P, json={"username": "matrix.new", "display_name": "新网格员", "role": "grid_worker",
                               "scope_unit_id": w.unit[G12]}),
        out=lambda w: Req(P, json={"username": "matrix.new", "display_name": "新网格员", "role": "grid_worker",
                                   "scope_unit_id": w.unit[V3]}),
    ),
    ("auth.PrincipalById", "GET"): spec(200, lambda w: Req(f"{P}/{w.inner}"), out=lambda w: Req(f"{P}/{w.outer}")),
    ("auth.PrincipalById", "PATCH"): spec(
        200,
        lambda w: Req(f"{P}/{w.inner}", json={"display_name": "改名"}),
        out=lambda w: Req(f"{P}/{w.outer}", json={"display_name": "改名"}),
        # an account in scope given a scope outside
        out_scope=lambda w: Req(f"{P}/{w.inner}", json={"scope_unit_id": w.unit[V3]}),
    ),
    ("auth.Deactivate", "POST"): spec(
        200, lambda w: Req(f"{P}/{w.inner}/deactivate"), out=lambda w: Req(f"{P}/{w.outer}/deactivate")
    ),
    ("auth.Unlock", "POST"): spec(
        200, lambda w: Req(f"{P}/{w.inner}/unlock"), out=lambda w: Req(f"{P}/{w.outer}/unlock")
    ),
    ("auth.Activate", "POST"): spec(
        200, lambda w: Req(f"{P}/{w.inner}/activate"), out=lambda w: Req(f"{P}/{w.outer}/activate")
    ),
    ("auth.Password", "POST"): spec(
        200,
        lambda w: Req(f"{P}/{w.inner}/password", json={"password": "a new password 1"}),
        out=lambda w: Req(f"{P}/{w.outer}/password", json={"password": "a new password 1"}),
    ),
    ("auth.Tokens", "GET"): spec(200, lambda w: Req(f"{API}/tokens")),
    ("auth.Tokens", "POST"): spec(
        201,
        lambda w: Req(f"{API}/tokens", json={"principal_id": w.inner, "name": "matrix"}),
        out=lambda w: Req(f"{API}/tokens", json={"principal_id": w.outer, "name": "matrix"}),
    ),
    ("auth.TokenById", "DELETE"): spec(
        204, lambda w: Req(f"{API}/tokens/{w.inner_token}"), out=lambda w: Req(f"{API}/tokens/{w.outer_token}")
    ),
    ("auth.AuditLog", "GET"): spec(200, lambda w: Req(f"{API}/audit")),
    # cases (see Spec.unassigned_case for the specialist's 404s)
    ("cases.Cases", "GET"): spec(200, lambda w: Req(C)),
    ("cases.Cases", "POST"): spec(
        201,
        lambda w: Req(C, json=case_body(w.unit[M112], "永安社区新纠纷")),
        out=lambda w: Req(C, json=case_body(w.unit[M311], "金龙村新纠纷")),
    ),
    ("cases.CaseById", "GET"): spec(
        200, lambda w: Req(f"{C}/{w.in_case}"), out=lambda w: Req(f"{C}/{w.out_case}"), unassigned_case=True
    ),
    ("cases.Timeline", "GET"): spec(
        200, lambda w: Req(f"{C}/{w.in_case}/timeline"), out=lambda w: Req(f"{C}/{w.out_case}/timeline"),
        unassigned_case=True,
    ),
    # The endpoint needs cases:attempt (every role that acts at all); accepting needs cases:handle
    # too, before the case is looked for; then the case's owner (G12) must be inside the scope.
    ("cases.Actions", "POST"): spec(
        200,
        lambda w: Req(f"{C}/{w.in_case}/actions", json={"action": ACTION, "version": w.in_case_version}),
        out=lambda w: Req(f"{C}/{w.out_case}/actions", json={"action": ACTION, "version": w.out_case_version}),
        body_needs=ACTION_PERMISSIONS[ACTION],
        unassigned_case=True,
    ),
    ("cases.Attachments", "POST"): spec(
        201,
        lambda w: Req(f"{C}/{w.in_case}/attachments", file=("photo.png", PNG)),
        out=lambda w: Req(f"{C}/{w.out_case}/attachments", file=("photo.png", PNG)),
        unassigned_case=True,
    ),
    ("cases.AttachmentFile", "GET"): spec(
        200,
        lambda w: Req(f"{C}/{w.in_case}/attachments/{w.in_attachment}"),
        out=lambda w: Req(f"{C}/{w.out_case}/attachments/{w.out_attachment}"),
        unassigned_case=True,
    ),
    ("cases.Inbox", "GET"): spec(200, lambda w: Req(f"{API}/inbox")),
    # people (issue 5): a worker is in scope where they are based, a studio where it sits.
    ("people.Workers", "GET"): spec(200, lambda w: Req(W)),
    ("people.Workers", "POST"): spec(
        201,
        lambda w: Req(W, json={"name": "新网格员", "role": "grid_worker", "home_unit_id": w.unit[G12],
                               "capacity": 3, "phone": "13800002001"}),
        out=lambda w: Req(W, json={"name": "新网格员", "role": "grid_worker", "home_unit_id": w.unit[G31],
                                   "capacity": 3, "phone": "13800002001"}),
    ),
    ("people.WorkerById", "GET"): spec(
        200, lambda w: Req(f"{W}/{w.in_worker}"), out=lambda w: Req(f"{W}/{w.out_worker}")
    ),
    ("people.WorkerById", "PATCH"): spec(
        200,
        lambda w: Req(f"{W}/{w.in_worker}", json={"name": "永安调解员（改）", "capacity": 12}),
        out=lambda w: Req(f"{W}/{w.out_worker}", json={"name": "金龙调解员（改）", "capacity": 12}),
    ),
    ("people.WorkerAssignments", "GET"): spec(
        200,
        lambda w: Req(f"{W}/{w.in_worker}/assignments?history=true"),
        out=lambda w: Req(f"{W}/{w.out_worker}/assignments?history=true"),
    ),
    ("people.UnitAssignments", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[M111]}/assignments"), out=lambda w: Req(f"{U}/{w.unit[M311]}/assignments")
    ),
    ("people.Coverage", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[V1]}/coverage"), out=lambda w: Req(f"{U}/{w.unit[V3]}/coverage")
    ),
    # The world's workers can cover every duty of V1's subtree, so planning it (without applying)
    # succeeds; V3 does not exist for the caller.
    ("people.Plan", "POST"): spec(
        200,
        lambda w: Req(f"{API}/assignments/plan", json={"scope_unit_id": w.unit[V1], "apply": False}),
        out=lambda w: Req(f"{API}/assignments/plan", json={"scope_unit_id": w.unit[V3], "apply": False}),
    ),
    ("people.Studios", "GET"): spec(200, lambda w: Req(S)),
    ("people.Studios", "POST"): spec(
        201,
        lambda w: Req(S, json={"name": "永安劳动争议调解室", "unit_id": w.unit[V1], "specialties": ["labour"],
                               "member_ids": [w.in_worker]}),
        out=lambda w: Req(S, json={"name": "金龙劳动争议调解室", "unit_id": w.unit[V3], "specialties": ["labour"]}),
        # a studio in scope whose member is a worker outside it: that worker does not exist here
        out_member=lambda w: Req(S, json={"name": "永安劳动争议调解室", "unit_id": w.unit[V1],
                                          "member_ids": [w.out_worker]}),
    ),
    ("people.StudioById", "GET"): spec(
        200, lambda w: Req(f"{S}/{w.in_studio}"), out=lambda w: Req(f"{S}/{w.out_studio}")
    ),
    ("people.StudioById", "PATCH"): spec(
        200,
        lambda w: Req(f"{S}/{w.in_studio}", json={"name": "永安调解室（改）", "member_ids": [w.in_worker]}),
        out=lambda w: Req(f"{S}/{w.out_studio}", json={"name": "金龙调解室（改）"}),
        out_member=lambda w: Req(f"{S}/{w.in_studio}", json={"member_ids": [w.in_worker, w.out_worker]}),
    ),
    # rollups (issue 7): a unit in scope and its children
    ("rollups.Rollup", "GET"): spec(200, lambda w: Req(f"{U}/{w.unit[V1]}/rollup"), out=lambda w: Req(f"{U}/{w.unit[V3]}/rollup")),
    ("rollups.RollupCsv", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[V1]}/rollup.csv"), out=lambda w: Req(f"{U}/{w.unit[V3]}/rollup.csv")
    ),
    ("rollups.Trend", "GET"): spec(200, lambda w: Req(f"{U}/{w.unit[G12]}/trend"), out=lambda w: Req(f"{U}/{w.unit[G31]}/trend")),
    ("rollups.RiskMap", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[V1]}/riskmap.geojson"), out=lambda w: Req(f"{U}/{w.unit[V3]}/riskmap.geojson")
    ),
    ("rollups.CasesCsv", "GET"): spec(200, lambda w: Req(f"{API}/cases.csv")),
    # residents' reports (issue 6): a report is in scope where it was made
    ("reports.Reports", "GET"): spec(200, lambda w: Req(R)),
    ("reports.ReportById", "GET"): spec(200, lambda w: Req(f"{R}/{w.in_report}"), out=lambda w: Req(f"{R}/{w.out_report}")),
    ("reports.Triage", "POST"): spec(
        200,
        lambda w: Req(f"{R}/{w.in_report}/actions", json={"action": "classify", "risk_grade": "yellow"}),
        out=lambda w: Req(f"{R}/{w.out_report}/actions", json={"action": "classify", "risk_grade": "yellow"}),
    ),
    ("reports.ReportCode", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[M111]}/report-code"), out=lambda w: Req(f"{U}/{w.unit[M311]}/report-code")
    ),
    ("reports.RotateReportCode", "POST"): spec(
        200, lambda w: Req(f"{U}/{w.unit[M111]}/report-code/rotate"),
        out=lambda w: Req(f"{U}/{w.unit[M311]}/report-code/rotate"),
    ),
    ("reports.QrSvg", "GET"): spec(200, lambda w: Req(f"{U}/{w.unit[M111]}/qr.svg"), out=lambda w: Req(f"{U}/{w.unit[M311]}/qr.svg")),
    ("reports.QrPng", "GET"): spec(200, lambda w: Req(f"{U}/{w.unit[M111]}/qr.png"), out=lambda w: Req(f"{U}/{w.unit[M311]}/qr.png")),
    ("reports.QrSheet", "GET"): spec(
        200, lambda w: Req(f"{U}/{w.unit[V1]}/qr-sheet"), out=lambda w: Req(f"{U}/{w.unit[V3]}/qr-sheet")
    ),
}


def send(client, method: str, req: Req):
    if req.csv is not None:
        return client.open(req.url, method=method, data=req.csv.encode(), content_type="text/csv")
    if req.file is not None:
        filename, content = req.file
        return client.open(req.url, method=method, data={"file": (io.BytesIO(content), filename)},
                           content_type="multipart/form-data")
    return client.open(req.url, method=method, json=req.json)


def assert_problem(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()


def guarded():
    """Every (endpoint, method) that needs a principal, and has a request to send."""
    return [key for key, permission in ENDPOINTS.items() if permission != PUBLIC and key in REQUESTS]


def matrix_cases():
    for endpoint, method in guarded():
        for role in Role:
            for where in REQUESTS[(endpoint, method)].variants:
                yield pytest.param(endpoint, method, role, where, id=f"{endpoint}-{method}-{role}-{where}")


# --- the matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint, method, role, where", list(matrix_cases()))
def test_matrix(app, world, make_principal, endpoint, method, role, where):
    permission = ENDPOINTS[(endpoint, method)]
    request = REQUESTS[(endpoint, method)]
    expected = request.expected(role, permission, where)
    _id, token = make_principal(role, CALLER_SCOPE)

    response = send(bearer_client(app, token), method, request.variants[where](world))

    assert response.status_code == expected, (
        f"{method} {endpoint} as {role} scoped at {CALLER_SCOPE}, target {where} of scope "
        f"(needs {permission}): {response.status_code} {response.get_data(as_text=True)[:500]}"
    )
    if not 200 <= response.status_code < 300:
        assert_problem(response, expected)


# --- lists hold only what is in scope ------------------------------------------------------------


def test_lists_hold_only_what_is_in_scope(app, world, make_principal):
    """The matrix checks statuses; the list endpoints (no target, so "in" only) must also leave
    out every row outside the caller's subtree."""
    _id, everywhere = make_principal(Role.ADMIN)  # scope: the whole installation
    assert send(bearer_client(app, everywhere), "PATCH",
                Req(f"{U}/{world.unit[M311]}", json={"name": "金龙村微网格（改）"})).status_code == 200
    _id, token = make_principal(Role.ADMIN, CALLER_SCOPE)
    client = bearer_client(app, token)

    def items(url):
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json["items"]

    assert {unit["code"] for unit in items(f"{U}?limit=500")} == {V1, G11, G12, M111, M112, M121}
    usernames = {principal["username"] for principal in items(f"{P}?limit=500")}
    assert "matrix.inner" in usernames and "matrix.outer" not in usernames
    token_owners = {token["principal_id"] for token in items(f"{API}/tokens?limit=500")}
    assert world.inner in token_owners and world.outer not in token_owners
    assert items(f"{API}/tokens?principal_id={world.outer}") == []
    labels = {event["target_label"] for event in items(f"{API}/audit?limit=500")}
    assert "matrix.inner" in labels
    assert "matrix.outer" not in labels and not any(M311 in label for label in labels)


def test_case_lists_hold_only_what_is_in_scope(app, world, make_principal):
    """Cases and the inbox (no target, so "in" only in the matrix) leave out the case outside."""
    _id, token = make_principal(Role.VILLAGE_STATION, CALLER_SCOPE)
    client = bearer_client(app, token)
    for url in (f"{C}?limit=500", f"{API}/inbox?limit=500"):
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        ids = {case["id"] for case in response.json["items"]}
        assert world.in_case in ids and world.out_case not in ids, url


def test_people_lists_hold_only_what_is_in_scope(app, world, make_principal):
    """The roster and the studios (no target, so "in" only in the matrix) leave out the worker
    and the studio outside; a plan of the caller's village involves only its own workers."""
    _id, token = make_principal(Role.DISTRICT_COMMAND, CALLER_SCOPE)
    client = bearer_client(app, token)
    workers = client.get(f"{W}?limit=500")
    assert workers.status_code == 200, workers.get_data(as_text=True)
    ids = {worker["id"] for worker in workers.json["items"]}
    assert world.in_worker in ids and world.out_worker not in ids
    studios = client.get(S)
    assert studios.status_code == 200, studios.get_data(as_text=True)
    assert [studio["id"] for studio in studios.json["items"]] == [world.in_studio]
    plan = client.post(f"{API}/assignments/plan", json={"scope_unit_id": world.unit[V1], "apply": False})
    assert plan.status_code == 200, plan.get_data(as_text=True)
    assert world.out_worker not in {item["worker_id"] for item in plan.json["added"]}
    assert plan.json["coverage"]["covered"] == plan.json["coverage"]["duties"] == 1 + 2 + 3


def test_a_specialist_sees_the_cases_assigned_to_them(app, world, make_principal):
    """The other side of the specialist's 404s in the matrix: assigned the case, they see it."""
    specialist, token = make_principal(Role.SPECIALIST, CALLER_SCOPE)
    client = bearer_client(app, token)
    assert client.get(f"{C}/{world.in_case}").status_code == 404
    with app.app_context():
        case = case_service.get_case(db.session, case_id=world.in_case)
        case = case_service.act(db.session, case=case, action="accept", actor=None, version=case.version, params={})
        case_service.act(db.session, case=case, action="assign", actor=None, version=case.version,
                         params={"assignee_id": specialist})
        db.session.commit()

    for url in (f"{C}/{world.in_case}", f"{C}/{world.in_case}/timeline",
                f"{C}/{world.in_case}/attachments/{world.in_attachment}"):
        response = client.get(url)
        assert response.status_code == 200, f"{url}: {response.get_data(as_text=True)[:500]}"
    assert [case["id"] for case in client.get(C).json["items"]] == [world.in_case]
    response = send(client, "POST", Req(f"{C}/{world.in_case}/attachments", file=("photo.png", PNG)))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert_problem(client.get(f"{C}/{world.out_case}"), 404)


# --- authorisation comes first ------------------------------------------------------------------

# (endpoint, method, an invalid request, what a permitted caller gets for it)
INVALID_BODIES = [
    ("units.Units", "POST", lambda w: Req(U, json={"name": "", "level": "planet"}), 422),
    ("units.Move", "POST", lambda w: Req(f"{U}/{w.unit[M112]}/move", json={"parent_id": "G12"}), 422),
    ("units.Import", "POST", lambda w: Req(f"{U}/import", json={"not": "a csv"}), 415),
    ("auth.Principals", "POST", lambda w: Req(P, json={"username": "!", "role": "king"}), 422),
    ("auth.Password", "POST", lambda w: Req(f"{P}/{w.inner}/password", json={"password": "short"}), 422),
    ("auth.Tokens", "POST", lambda w: Req(f"{API}/tokens", json={"principal_id": -1}), 422),
]


@pytest.mark.parametrize(
    "endpoint, method, build, permitted_status",
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in INVALID_BODIES],
)
def test_authorisation_is_decided_before_the_body_is_read(app, world, make_principal, endpoint, method, build,
                                                          permitted_status):
    permission = ENDPOINTS[(endpoint, method)]
    assert not allows(Role.GRID_WORKER, permission) and allows(Role.ADMIN, permission)
    _id, forbidden_token = make_principal(Role.GRID_WORKER, CALLER_SCOPE)
    _id, admin_token = make_principal(Role.ADMIN, CALLER_SCOPE)

    assert_problem(send(bearer_client(app, forbidden_token), method, build(world)), 403)
    # The same body is indeed invalid: a caller with the permission is told so.
    assert_problem(send(bearer_client(app, admin_token), method, build(world)), permitted_status)


@pytest.mark.parametrize(
    "endpoint, method", [pytest.param(*key, id=f"{key[0]}-{key[1]}") for key in guarded()]
)
def test_without_a_token_every_guarded_endpoint_answers_401(anonymous, world, endpoint, method):
    response = send(anonymous, method, REQUESTS[(endpoint, method)].variants["in"](world))
    assert_problem(response, 401)
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


# --- public endpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicReq:
    url: str
    status: int
    json: object = None
    form: dict = field(default_factory=dict)
    csrf_from: str | None = None  # a page whose form's CSRF token the POST carries


PUBLIC_REQUESTS: dict[tuple[str, str], PublicReq] = {
    ("api-docs.openapi_json", "GET"): PublicReq(f"{API}/openapi.json", 200),
    ("docs.docs", "GET"): PublicReq("/docs", 200),
    ("docs.home", "GET"): PublicReq("/", 302),
    ("health.healthz", "GET"): PublicReq("/healthz", 200),
    ("health.readyz", "GET"): PublicReq("/readyz", 200),
    ("static", "GET"): PublicReq("/static/swagger-ui/swagger-ui.css", 200),
    ("pages.login", "GET"): PublicReq("/login", 200),
    # wrong credentials: the sign-in page says so (401), it does not forbid the page
    ("pages.login", "POST"): PublicReq(
        "/login", 401, form={"username": "nobody", "password": "wrong password"}, csrf_from="/login"
    ),
    ("pages.logout", "GET"): PublicReq("/logout", 200),
    # signed out already; the form's token is the session's, so the sign-in page's will do
    ("pages.logout", "POST"): PublicReq("/logout", 302, csrf_from="/login"),
    ("auth.Token", "POST"): PublicReq(f"{API}/auth/token", 401, json={"username": "nobody", "password": "wrong"}),
    # district command's page sends anyone not signed in to sign in
    ("command_pages.command", "GET"): PublicReq("/command", 302),
    # residents' pages: a code that no unit has is not found, with or without a form
    ("report_pages.report", "GET"): PublicReq("/r/AAAAAAAAAAAAAAAAAAAAAA", 404),
    ("report_pages.report", "POST"): PublicReq("/r/AAAAAAAAAAAAAAAAAAAAAA", 404, form={"description": "x"}),
    ("report_pages.track_lookup", "GET"): PublicReq("/t", 200),
    ("report_pages.track", "GET"): PublicReq("/t/ABCDEFGHJK", 404),
    # Open311: reading needs no key; filing without one is the specification's 400
    ("open311.discovery", "GET"): PublicReq("/open311/v2/discovery.json", 200),
    ("open311.services", "GET"): PublicReq("/open311/v2/services.json", 200),
    ("open311.service_definition", "GET"): PublicReq("/open311/v2/services/labour.xml", 200),
    ("open311.create_request", "POST"): PublicReq("/open311/v2/requests.json", 400, form={"service_code": "labour"}),
    ("open311.list_requests", "GET"): PublicReq("/open311/v2/requests.json", 200),
    ("open311.get_request", "GET"): PublicReq("/open311/v2/requests/NX-2026-999999.json", 404),
    ("open311.token", "GET"): PublicReq("/open311/v2/tokens/ABCDEFGHJK.json", 404),
}

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.mark.parametrize(
    "endpoint, method", [pytest.param(*key, id=f"{key[0]}-{key[1]}") for key in PUBLIC_REQUESTS]
)
def test_public_endpoints_answer_without_a_token(anonymous, endpoint, method):
    req = PUBLIC_REQUESTS[(endpoint, method)]
    form = dict(req.form)
    if req.csrf_from:
        page = anonymous.get(req.csrf_from).get_data(as_text=True)
        match = CSRF_FIELD.search(page)
        assert match, f"no CSRF token on {req.csrf_from}"
        form["csrf_token"] = match.group(1)
    if req.json is not None:
        response = anonymous.open(req.url, method=method, json=req.json)
    else:
        response = anonymous.open(req.url, method=method, data=form or None)

    assert response.status_code != 403, response.get_data(as_text=True)[:500]
    assert response.status_code == req.status, response.get_data(as_text=True)[:500]
    if endpoint == "auth.Token":
        assert_problem(response, 401)  # wrong credentials, not a missing token


# --- the tables cover the app -------------------------------------------------------------------


def test_every_route_is_in_the_tables(app):
    """An endpoint added without a permission, or without a request in this matrix, fails here."""
    registered = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    public = {key for key, permission in ENDPOINTS.items() if permission == PUBLIC}

    problems = {
        "routes missing from permissions.ENDPOINTS": registered - ENDPOINTS.keys(),
        "stale permissions.ENDPOINTS entries (no such route)": ENDPOINTS.keys() - registered,
        "guarded routes missing from REQUESTS in this module": registered - public - REQUESTS.keys(),
        "REQUESTS entries that are not guarded routes": REQUESTS.keys() - (registered - public),
        "public routes missing from PUBLIC_REQUESTS in this module": public - PUBLIC_REQUESTS.keys(),
        "PUBLIC_REQUESTS entries that are not public routes": PUBLIC_REQUESTS.keys() - public,
    }
    report = [f"{what}: " + ", ".join(f"{method} {endpoint}" for endpoint, method in sorted(keys))
              for what, keys in problems.items() if keys]
    assert not report, "\n".join(report)


def test_every_role_has_a_permission_set():
    from gridgov.auth.permissions import PERMISSIONS, ROLE_PERMISSIONS, SIGNED_IN

    assert set(ROLE_PERMISSIONS) == set(Role)
    needed = set(ENDPOINTS.values()) - {PUBLIC, SIGNED_IN}
    assert needed <= PERMISSIONS.keys(), "ENDPOINTS names a permission PERMISSIONS does not describe"
    for role, names in ROLE_PERMISSIONS.items():
        assert names <= PERMISSIONS.keys(), f"{role} has an unknown permission"


def test_the_published_table_answers_may_my_role_call_this_path(app, make_principal, small_tree):
    """Before, it named endpoints by Flask's names only, and left out what each case action needs:
    a grid worker read that POST /cases/{id}/actions needs cases:attempt, and was refused escalate."""
    _id, token = make_principal("grid_worker", "510503001001001")
    table = bearer_client(app, token).get(f"{API}/permissions").get_json()
    mine = set(table["roles"]["grid_worker"])

    by_path = {(entry["method"], entry["path"]): entry["permission"] for entry in table["endpoints"]}
    assert by_path[("GET", f"{API}/units/{{unit_id}}")] == "units:read"
    assert by_path[("POST", f"{API}/cases/{{case_id}}/actions")] == "cases:attempt"
    assert by_path[("GET", "/healthz")] == "public"
    documented = bearer_client(app, token).get(f"{API}/openapi.json").get_json()["paths"]
    assert {path for _method, path in by_path if path.startswith(API)} - set(documented) == {f"{API}/openapi.json"}
    assert table["case_actions"]["record_attempt"] in mine
    assert table["case_actions"]["escalate"] not in mine
