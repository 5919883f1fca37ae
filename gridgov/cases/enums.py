"""The words of a case, as the API spells them."""

import enum

from gridgov.tree.levels import Level


class Category(enum.StrEnum):
    FAMILY_NEIGHBOUR = "family_neighbour"  # 家事邻里
    LABOUR = "labour"  # 劳动争议、欠薪
    CONSUMER = "consumer"  # 消费纠纷
    TRAFFIC_INJURY = "traffic_injury"  # 交通/人身损害
    PROPERTY_MANAGEMENT = "property_management"  # 物业
    LAND_HOUSING = "land_housing"  # 土地房屋
    PETITION = "petition"  # 信访
    SAFETY_HAZARD = "safety_hazard"  # 安全隐患
    OTHER = "other"


CATEGORY_TITLES = {
    Category.FAMILY_NEIGHBOUR: "家事邻里纠纷",
    Category.LABOUR: "劳动争议（欠薪）",
    Category.CONSUMER: "消费纠纷",
    Category.TRAFFIC_INJURY: "交通事故/人身损害",
    Category.PROPERTY_MANAGEMENT: "物业纠纷",
    Category.LAND_HOUSING: "土地房屋纠纷",
    Category.PETITION: "信访事项",
    Category.SAFETY_HAZARD: "安全隐患",
    Category.OTHER: "其他",
}


class RiskGrade(enum.StrEnum):
    BLUE = "blue"  # hidden risk
    YELLOW = "yellow"  # family and neighbour
    ORANGE = "orange"  # may escalate
    RED = "red"  # cross-department, many people, mass-incident risk


RISK_TITLES = {RiskGrade.BLUE: "蓝", RiskGrade.YELLOW: "黄", RiskGrade.ORANGE: "橙", RiskGrade.RED: "红"}


class Source(enum.StrEnum):
    GRID_PATROL = "grid_patrol"
    CITIZEN_REPORT = "citizen_report"
    HOTLINE = "hotline"
    POLICE_DISPATCH = "police_dispatch"
    COURT_REFERRAL = "court_referral"
    OTHER = "other"


class Status(enum.StrEnum):
    REPORTED = "reported"  # 上报: waiting for the owner unit to accept
    ACCEPTED = "accepted"  # 受理
    IN_PROGRESS = "in_progress"  # 调处中
    RESOLVED = "resolved"  # 化解
    CLOSED = "closed"  # 核查结案
    SUSPENDED = "suspended"  # 挂起: the deadline clock stops
    REFERRED = "referred"  # 诉非衔接: with legal aid, arbitration or a court
    REJECTED = "rejected"
    REOPENED = "reopened"  # the applicant objected within 30 days of closing


STATUS_TITLES = {
    Status.REPORTED: "待受理", Status.ACCEPTED: "已受理", Status.IN_PROGRESS: "调处中", Status.RESOLVED: "已化解",
    Status.CLOSED: "已结案", Status.SUSPENDED: "挂起", Status.REFERRED: "诉非衔接", Status.REJECTED: "不予受理",
    Status.REOPENED: "重新办理",
}

OPEN_STATUSES = frozenset(Status) - {Status.RESOLVED, Status.CLOSED, Status.REJECTED}
# The clock runs while the owner unit has the case in hand.
CLOCK_RUNNING = frozenset({Status.REPORTED, Status.ACCEPTED, Status.IN_PROGRESS, Status.REOPENED})
# The deadline stands while the clock runs and while a resolved case waits to be verified: a case
# is closed on time only if closed by it (按期结案). So these cases have a colour, count as due to
# close once it passes, and are marked red by the sweep; only a running clock escalates.
DEADLINE_STANDS = CLOCK_RUNNING | {Status.RESOLVED}


class HandlingLevel(enum.StrEnum):
    """The levels that own cases: micro-grids report, they do not handle."""

    GRID = "grid"
    VILLAGE = "village"
    TOWN = "town"
    DISTRICT = "district"

    @property
    def rank(self) -> int:
        return HANDLING_ORDER.index(self)

    @property
    def tree_level(self) -> Level:
        return Level(self.value)


HANDLING_ORDER = [HandlingLevel.GRID, HandlingLevel.VILLAGE, HandlingLevel.TOWN, HandlingLevel.DISTRICT]


class PartyRole(enum.StrEnum):
    APPLICANT = "applicant"
    RESPONDENT = "respondent"
    OTHER = "other"


class Outcome(enum.StrEnum):
    """Of a mediation attempt."""

    SUCCESS = "success"
    FAILURE = "failure"
    PARTIAL = "partial"


class EscalationReason(enum.StrEnum):
    MEDIATION_FAILED = "mediation_failed"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    BEYOND_AUTHORITY = "beyond_authority"
    CROSS_BOUNDARY = "cross_boundary"


class RejectionReason(enum.StrEnum):
    """Why a handler rejects a case (a report's triage has reasons of its own)."""

    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out_of_scope"
    INVALID = "invalid"


class ReferralChannel(enum.StrEnum):
    LEGAL_AID = "legal_aid"  # 法律援助
    LABOUR_ARBITRATION = "labour_arbitration"  # 劳动仲裁
    LITIGATION = "litigation"  # 诉讼


class DeadlineColour(enum.StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


COLOUR_TITLES = {DeadlineColour.GREEN: "绿灯", DeadlineColour.YELLOW: "黄灯", DeadlineColour.RED: "红灯"}
