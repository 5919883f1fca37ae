"""Who may do what: the permission table, in one place.

Three tables, read together:

* ``ROLE_PERMISSIONS`` — what each principal role may do (within its scope, a subtree);
* ``ENDPOINTS`` — the permission every endpoint and method needs, or ``PUBLIC``, or
  ``SIGNED_IN`` (any principal). An endpoint missing here makes ``create_app`` fail, so nothing
  can be served unguarded;
* ``PERMISSIONS`` — what each permission means, for the API docs.

Scope is not decided here: every read of scoped rows is restricted to the principal's subtree
by ``gridgov.auth.scope``, and a row outside it does not exist for them (404).
"""

import enum

from gridgov.cases.transitions import TRANSITIONS


class Role(enum.StrEnum):
    GRID_WORKER = "grid_worker"
    VILLAGE_STATION = "village_station"
    TOWN_CENTRE = "town_centre"
    DISTRICT_COMMAND = "district_command"
    TRIAGE_CLERK = "triage_clerk"
    SPECIALIST = "specialist"
    AUDITOR = "auditor"
    ADMIN = "admin"
    INTEGRATION = "integration"


ROLE_TITLES = {
    Role.GRID_WORKER: "网格员",
    Role.VILLAGE_STATION: "村/社区工作站",
    Role.TOWN_CENTRE: "镇/街道社会治理中心",
    Role.DISTRICT_COMMAND: "区社会治理中心指挥部",
    Role.TRIAGE_CLERK: "信息清洗员",
    Role.SPECIALIST: "专家/调解员",
    Role.AUDITOR: "审计",
    Role.ADMIN: "系统管理员",
    Role.INTEGRATION: "外部系统",
}

PUBLIC = "public"
SIGNED_IN = "signed_in"

# Public endpoints that do not even look the caller up (no account read): a liveness check must
# answer while the database cannot, whatever token or cookie the probe carries; a stylesheet is
# the same for everyone.
ANONYMOUS = {"health.healthz", "health.readyz", "static"}

PERMISSIONS = {
    "units:read": "read the units of the scope",
    "units:write": "create, change, move, import and delete units in the scope",
    "principals:manage": "create, change, deactivate and unlock accounts in the scope; reset passwords",
    "tokens:manage": "issue and revoke API tokens of the scope's accounts",
    "audit:read": "read the admin audit log of the scope",
    "pii:read": "see personal data (names, phones of parties and reporters) unmasked",
    "cases:read": "read the cases that happened or are handled in the scope, and their timelines",
    "cases:log": "log cases that happen in the scope",
    "cases:attempt": "record mediation attempts and attach files (a grid worker: attempts on the cases assigned to them)",
    "cases:handle": "act on the cases owned in the scope: every action but record_attempt",
    "people:read": "read the roster, studios, assignments and coverage of the scope",
    "people:write": "add and change workers and studios of the scope",
    "people:plan": "plan (and apply) who covers which unit",
    "rollups:read": "read the figures of the scope's units (rollups, trends, the risk map, /command)",
    "reports:read": "read residents' reports of the scope",
    "reports:triage": "triage residents' reports of the scope: classify, merge, reject, dispatch",
    "reports:file": "file residents' reports from an outside system (Open311 POST requests, by its api_key)",
}

HANDLER = frozenset({"units:read", "cases:read", "cases:log", "cases:attempt", "cases:handle", "people:read",
                     "rollups:read"})

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.GRID_WORKER: frozenset({"units:read", "cases:read", "cases:log", "cases:attempt", "rollups:read"}),
    Role.VILLAGE_STATION: HANDLER,
    Role.TOWN_CENTRE: HANDLER,
    Role.DISTRICT_COMMAND: HANDLER | {"units:write", "pii:read", "people:write", "people:plan", "reports:read",
                                      "reports:triage"},
    # 信息清洗员: checks each resident's report the same day and dispatches it.
    Role.TRIAGE_CLERK: frozenset({"units:read", "cases:read", "reports:read", "reports:triage", "rollups:read"}),
    # Sees only the cases given to them (see cases.models), with their personal data; not the
    # figures of the units, which count every case there.
    Role.SPECIALIST: frozenset({"units:read", "cases:read", "cases:attempt"}),
    Role.AUDITOR: frozenset({"units:read", "audit:read", "pii:read", "cases:read", "people:read", "reports:read",
                             "rollups:read"}),
    Role.ADMIN: frozenset({"units:read", "units:write", "principals:manage", "tokens:manage", "audit:read"}),
    # An outside system files reports (Open311) and does nothing else.
    Role.INTEGRATION: frozenset({"reports:file"}),
}

# (endpoint, method) → permission. Endpoints are Flask's names: "blueprint.View".
ENDPOINTS: dict[tuple[str, str], str] = {
    # documentation and pages
    ("api-docs.openapi_json", "GET"): PUBLIC,
    ("docs.docs", "GET"): PUBLIC,
    ("docs.home", "GET"): PUBLIC,
    ("health.healthz", "GET"): PUBLIC,
    ("health.readyz", "GET"): PUBLIC,
    ("static", "GET"): PUBLIC,
    ("pages.login", "GET"): PUBLIC,
    ("pages.login", "POST"): PUBLIC,
    ("pages.logout", "GET"): PUBLIC,
    ("pages.logout", "POST"): PUBLIC,
    # The page holds no data (its API calls are guarded); it sends anyone not signed in to /login.
    ("command_pages.command", "GET"): PUBLIC,
    ("report_pages.report", "GET"): PUBLIC,
    ("report_pages.report", "POST"): PUBLIC,
    ("report_pages.track_lookup", "GET"): PUBLIC,
    ("report_pages.track", "GET"): PUBLIC,
    # the tree
    ("units.Units", "GET"): "units:read",
    ("units.Units", "POST"): "units:write",
    ("units.UnitById", "GET"): "units:read",
    ("units.UnitById", "PATCH"): "units:write",
    ("units.UnitById", "DELETE"): "units:write",
    ("units.UnitByCode", "GET"): "units:read",
    ("units.Children", "GET"): "units:read",
    ("units.Descendants", "GET"): "units:read",
    ("units.Ancestors", "GET"): "units:read",
    ("units.LowestCommonAncestor", "POST"): "units:read",
    ("units.Move", "POST"): "units:write",
    ("units.Export", "GET"): "units:read",
    ("units.Import", "POST"): "units:write",
    # accounts
    ("auth.Token", "POST"): PUBLIC,
    ("auth.Token", "DELETE"): SIGNED_IN,
    ("auth.Me", "GET"): SIGNED_IN,
    ("auth.Permissions", "GET"): SIGNED_IN,
    ("auth.Principals", "GET"): "principals:manage",
    ("auth.Principals", "POST"): "principals:manage",
    ("auth.PrincipalById", "GET"): "principals:manage",
    ("auth.PrincipalById", "PATCH"): "principals:manage",
    ("auth.Deactivate", "POST"): "principals:manage",
    ("auth.Activate", "POST"): "principals:manage",
    ("auth.Unlock", "POST"): "principals:manage",
    ("auth.Password", "POST"): "principals:manage",
    ("auth.Tokens", "GET"): "tokens:manage",
    ("auth.Tokens", "POST"): "tokens:manage",
    ("auth.TokenById", "DELETE"): "tokens:manage",
    ("auth.AuditLog", "GET"): "audit:read",
    # cases
    ("cases.Cases", "GET"): "cases:read",
    ("cases.Cases", "POST"): "cases:log",
    ("cases.CaseById", "GET"): "cases:read",
    ("cases.Timeline", "GET"): "cases:read",
    # Every role that may take any action records attempts; each action needs its own permission
    # too (ACTION_PERMISSIONS), checked before its fields, and the case's scope with the case.
    ("cases.Actions", "POST"): "cases:attempt",
    ("cases.Attachments", "POST"): "cases:attempt",
    ("cases.AttachmentFile", "GET"): "cases:read",
    ("cases.Inbox", "GET"): "cases:read",
    # rollups (district command's figures): a unit in scope and its children
    ("rollups.Rollup", "GET"): "rollups:read",
    ("rollups.RollupCsv", "GET"): "rollups:read",
    ("rollups.Trend", "GET"): "rollups:read",
    ("rollups.RiskMap", "GET"): "rollups:read",
    ("rollups.CasesCsv", "GET"): "cases:read",
    # residents' reports, report codes and QR codes
    ("reports.Reports", "GET"): "reports:read",
    ("reports.ReportById", "GET"): "reports:read",
    ("reports.Triage", "POST"): "reports:triage",
    ("reports.ReportCode", "GET"): "units:read",
    ("reports.RotateReportCode", "POST"): "units:write",
    ("reports.QrSvg", "GET"): "units:read",
    ("reports.QrPng", "GET"): "units:read",
    ("reports.QrSheet", "GET"): "units:read",
    # Open311: the GETs hold no personal data. POST requests is authenticated by its api_key
    # parameter, as the specification says, and needs reports:file (gridgov.reports.open311).
    ("open311.discovery", "GET"): PUBLIC,
    ("open311.services", "GET"): PUBLIC,
    ("open311.service_definition", "GET"): PUBLIC,
    ("open311.create_request", "POST"): PUBLIC,
    ("open311.list_requests", "GET"): PUBLIC,
    ("open311.get_request", "GET"): PUBLIC,
    ("open311.token", "GET"): PUBLIC,
    # people
    ("people.Workers", "GET"): "people:read",
    ("people.Workers", "POST"): "people:write",
    ("people.WorkerById", "GET"): "people:read",
    ("people.WorkerById", "PATCH"): "people:write",
    ("people.WorkerAssignments", "GET"): "people:read",
    ("people.UnitAssignments", "GET"): "people:read",
    ("people.Coverage", "GET"): "people:read",
    ("people.Plan", "POST"): "people:plan",
    ("people.Studios", "GET"): "people:read",
    ("people.Studios", "POST"): "people:write",
    ("people.StudioById", "GET"): "people:read",
    ("people.StudioById", "PATCH"): "people:write",
}

# The permission each case action needs, beyond reading the case: handling, but for the work
# done on a case where it is (an attempt, and attaching a file, which is not an action).
ACTION_PERMISSIONS: dict[str, str] = {action: "cases:handle" for action in TRANSITIONS} | {
    "record_attempt": "cases:attempt",
    "attach": "cases:attempt",
}


def allows(role: Role, permission: str) -> bool:
    return permission in (PUBLIC, SIGNED_IN) or permission in ROLE_PERMISSIONS[role]


def reads_personal_data(role: Role) -> bool:
    """Whether an account of the role sees parties' names and phones: everywhere in its scope
    (pii:read), or, a specialist, on the cases given to them or their studio."""
    return allows(role, "pii:read") or role is Role.SPECIALIST


def unguarded(rules) -> list[str]:
    """``"METHOD rule"`` for every URL rule and method with no entry in ``ENDPOINTS``."""
    missing = []
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in ENDPOINTS:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    return missing


def as_markdown() -> str:
    """The table for the API docs: roles down, permissions across."""
    header = "| role | " + " | ".join(f"`{name}`" for name in PERMISSIONS) + " |"
    rule = "|---|" + "---|" * len(PERMISSIONS)
    rows = [
        f"| `{role}` {ROLE_TITLES[role]} | "
        + " | ".join("✓" if name in ROLE_PERMISSIONS[role] else "" for name in PERMISSIONS)
        + " |"
        for role in Role
    ]
    meanings = "\n".join(f"* `{name}`: {meaning}" for name, meaning in PERMISSIONS.items())
    return "\n".join([header, rule, *rows, "", meanings])
