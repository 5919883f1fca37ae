"""Residents' reports: the report codes posted in units (纳安解纷码) and the reports filed
through them or through Open311, before and after the triage desk dispatches them."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.auth import scope
from gridgov.cases.enums import Category, RiskGrade
from gridgov.db import UTCDateTime, binary_string, db, enum_type, utcnow
from gridgov.tree.models import PATH_LENGTH, register_path_copy, subtree_criterion


class ReportStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the triage desk
    DISPATCHED = "dispatched"  # a case was made of it
    MERGED = "merged"  # a duplicate: it follows another report or a case
    REJECTED = "rejected"


class Channel(enum.StrEnum):
    QR = "qr"  # the report page behind a unit's QR code
    OPEN311 = "open311"  # an outside system, through GeoReport v2


class RejectionReason(enum.StrEnum):
    SPAM = "spam"
    OUT_OF_SCOPE = "out_of_scope"  # not a matter for the governance centre
    INVALID = "invalid"  # nothing to act on


class ReportCode(db.Model):
    """The token behind a unit's QR code. Rotating it retires every code printed before."""

    __tablename__ = "report_codes"

    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Report(db.Model):
    __tablename__ = "reports"
    __table_args__ = (
        sa.Index("ix_reports_unit_path", "unit_path"),
        sa.Index("ix_reports_status_id", "status", "id"),
        sa.Index("ix_reports_submitted_at", "submitted_at", "id"),  # Open311's lists: the latest first
        sa.Index("uq_reports_submission", "submission", unique=True),
        # The few whose due time was counted past the holiday data, which the sweep counts again
        # (spelled as ix_cases_provisional is).
        sa.Index("ix_reports_provisional", "triage_due_provisional", "id",
                 sqlite_where=sa.text("triage_due_provisional = 1"),
                 postgresql_where=sa.text("triage_due_provisional")),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the resident keeps to follow it (/t/<code>); the Open311 token too.
    tracking_code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    # The id of the report page's form it came from: the same form sent twice (a double tap, a
    # refreshed receipt) is the same report.
    submission: Mapped[str | None] = mapped_column(sa.String(64))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    unit_path: Mapped[str] = mapped_column(binary_string(PATH_LENGTH))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, "report_channel", 16))
    # The outside system (role integration) that filed it through Open311.
    filed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))

    category: Mapped[Category] = mapped_column(enum_type(Category, "report_category"))
    risk_grade: Mapped[RiskGrade | None] = mapped_column(enum_type(RiskGrade, "report_risk_grade"))
    description: Mapped[str] = mapped_column(sa.Text)
    media_url: Mapped[str | None] = mapped_column(sa.String(500))
    # The reporter's own data, none of it when they report anonymously.
    anonymous: Mapped[bool] = mapped_column(default=False)
    reporter_name: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # Where the reporter said it is (Open311), besides the unit it was mapped to.
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    address: Mapped[str | None] = mapped_column(sa.String(300))

    status: Mapped[ReportStatus] = mapped_column(enum_type(ReportStatus, "report_status", 16))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The same working day (see calendar.end_of_working_day).
    triage_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Counted past the holiday data (calendar.estimated_working_day); counted again once it is there.
    triage_due_provisional: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    classified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reports.id"))
    rejection_reason: Mapped[RejectionReason | None] = mapped_column(enum_type(RejectionReason, "report_rejection", 16))
    rejection_note: Mapped[str | None] = mapped_column(sa.String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


register_path_copy(Report.unit_path, Report.district_id)
scope.register(Report, subtree_criterion("unit_path"))
