"""``/api/v1/cases`` and ``/api/v1/inbox``."""

from flask import g, request
from flask.views import MethodView

from gridgov.api import BINARY, Blueprint, PageArgs, action_field_errors, decode_cursor, page, page_by_id, page_limit
from gridgov.auth import pii
from gridgov.auth.permissions import Role, allows
from gridgov.auth.scope import current_scope
from gridgov.cases import attachments, clock, service
from gridgov.cases.enums import EscalationReason, Outcome
from gridgov.cases.schemas import (
    ACTION_FIELDS,
    ACTIONS_DESCRIPTION,
    CHOICES,
    ONE_OF,
    ActionSchema,
    AttachmentSchema,
    CaseCreateSchema,
    CaseListArgs,
    CasePageSchema,
    CaseSchema,
    InboxArgs,
    TimelineSchema,
)
from gridgov.db import db, utcnow
from gridgov.errors import InvalidInput, RuleViolation

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="Cases: logging, the lifecycle, escalation, deadlines and the audit trail.")


def present(case, *, now=None):
    """The case as this caller may see it: personal data masked without the right."""
    unmasked = service.may_read_pii(g.get("principal"), case)
    case.parties_view = [
        {
            "id": party.id,
            "role": party.role,
            "name": party.name if unmasked else pii.mask_name(party.name),
            "phone": party.phone if unmasked else pii.mask_phone(party.phone),
            "id_number_last4": party.id_number_last4,
            "home_unit_id": party.home_unit_id,
        }
        for party in case.parties
    ]
    case.deadline_colour = clock.colour(case, now=now or utcnow())
    return case


def _present_page(rows: list, limit: int, key) -> dict:
    """A page of cases, each as the caller may see it."""
    body = page(rows, limit, key)
    body["items"] = [present(case) for case in body["items"]]
    return body


# Set on an answer given again to a retried request (as Stripe's API does): nothing was done now.
REPLAYED = {"Idempotent-Replayed": "true"}
REPLAYED_DOC = {"Idempotent-Replayed": {"description": "`true` on the answer to a request sent again with the same "
                                                       "Idempotency-Key: nothing was done this time.",
                                        "schema": {"type": "string", "enum": ["true"]}}}


def idempotency_key_parameter(retry: str) -> dict:
    return {
        "in": "header", "name": "Idempotency-Key", "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": f"A unique key per request (a UUID), sent again with its retries: a retry {retry}; the same key "
                       "with another request answers 422. A retry arriving while the first is still being handled "
                       f"waits for it. Keys are kept {service.KEYS_KEPT.days} days.",
    }


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 200 and key.isprintable()):
        raise RuleViolation("An Idempotency-Key is 1 to 200 printable characters.")
    return key


@blp.route("/cases")
class Cases(MethodView):
    @blp.arguments(CaseListArgs, location="query")
    @blp.response(200, CasePageSchema)
    def get(self, args):
        """Cases in your scope, filtered; newest first unless `sort` says otherwise."""
        limit = page_limit(args.pop("limit"))
        after = decode_cursor(args.pop("cursor"), kind=list)
        sort = args.pop("sort")
        rows, key = service.list_cases(db.session, filters=args, sort=sort, after=after, limit=limit)
        return _present_page(rows, limit, key)

    @blp.arguments(CaseCreateSchema)
    @blp.response(201, CaseSchema)
    @blp.doc(parameters=[idempotency_key_parameter("answers the first case (200) instead of creating another")])
    @blp.alt_response(200, schema=CaseSchema, description="An earlier request with this Idempotency-Key.",
                      headers=REPLAYED_DOC)
    def post(self, data):
        """Log a case where it happened; it is owned at the lowest level policy allows."""
        case, created = service.create_case(db.session, actor=g.principal, idempotency_key=_idempotency_key(), **data)
        db.session.commit()
        return (present(case), 201) if created else (present(case), 200, REPLAYED)


@blp.route("/cases/<id:case_id>")
class CaseById(MethodView):
    @blp.response(200, CaseSchema)
    def get(self, case_id):
        """One case, with its parties (personal data masked without `pii:read`) and attachments."""
        return present(service.get_case(db.session, case_id=case_id))


@blp.route("/cases/<id:case_id>/timeline")
class Timeline(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, TimelineSchema)
    def get(self, args, case_id):
        """Every event from creation on, oldest first: actions, mediation attempts, owners and reasons."""
        case = service.get_case(db.session, case_id=case_id)
        return page_by_id(args, lambda **page: service.events(db.session, case=case, **page))


@blp.route("/cases/<id:case_id>/actions")
class Actions(MethodView):
    @blp.arguments(ActionSchema)
    @blp.response(200, CaseSchema, headers=REPLAYED_DOC)
    @blp.alt_response(409, response="CONFLICT", description=(
        "The action is not allowed from the case's status (`allowed_actions` lists those that are), or `version` is "
        "stale (`current_version` says the case's): read the case again and decide. A stale version may be your own "
        "earlier request, done though its answer was lost: send actions with an `Idempotency-Key` and a retry "
        "answers the case instead."))
    @blp.doc(description=ACTIONS_DESCRIPTION, parameters=[idempotency_key_parameter(
        "answers the case as it is now (200) instead of acting again, or finding its own version stale")])
    def post(self, data, case_id):
        """Act on a case"""
        action, version = data.pop("action"), data.pop("version")
        service.check_role(action=action, actor=g.principal)  # 403 before the fields are looked at
        params = _action_params(action, data)
        case, acted = service.act_once(db.session, case_id=case_id, action=action, actor=g.principal, version=version,
                                       params=params, idempotency_key=_idempotency_key())
        db.session.commit()
        return (present(case), 200) if acted else (present(case), 200, REPLAYED)


def _action_params(action: str, data: dict) -> dict:
    required, optional = ACTION_FIELDS[action]
    errors = action_field_errors(action, data, required=required, optional=optional)
    if action in ONE_OF and not set(ONE_OF[action]) & set(data):
        for name in ONE_OF[action]:
            errors[name] = [f"{action} needs one of {', '.join(ONE_OF[action])}"]
    for (choice_action, name), choices in CHOICES.items():
        if choice_action == action and name in data and data[name] not in choices:
            errors[name] = [f"one of {', '.join(choices)}"]
    if errors:
        raise RuleViolation(f"The fields do not fit the action {action}.", errors=errors)
    if action == "escalate":
        data["reason"] = EscalationReason(data["reason"])
    if action == "record_attempt":
        data["outcome"] = Outcome(data["outcome"])
    return data


@blp.route("/cases/<id:case_id>/attachments")
class Attachments(MethodView):
    @blp.doc(requestBody={
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"],
        }}},
    })
    @blp.response(201, AttachmentSchema)
    @blp.alt_response(200, schema=AttachmentSchema,
                      description="The same file (the same bytes) is on the case already: that attachment.")
    def post(self, case_id):
        """Attach a photo or a document (JPEG, PNG, WebP, GIF, HEIC, PDF; checked by content; 10 MB at most),
        one file per request (several answer 400). A file already on the case is kept once: sent again
        (a retry after a lost answer), it answers 200 with the attachment it is."""
        case = service.get_case(db.session, case_id=case_id)
        # Keeping one and dropping the rest (under "file" or any other name) would tell a grid
        # worker their photos were kept.
        if len(list(request.files.items(multi=True))) > 1:
            raise InvalidInput("Send one file per request.", errors={"file": ["one file per request"]})
        upload = request.files.get("file")
        attachment, added = attachments.add(db.session, case=case, actor=g.principal, upload=upload)
        if not added:
            return attachment, 200
        attachments.commit(db.session, attachment)
        return attachment, 201


@blp.route("/cases/<id:case_id>/attachments/<id:attachment_id>")
class AttachmentFile(MethodView):
    @blp.response(200, BINARY, content_type="application/octet-stream", description="The file as uploaded.")
    @blp.doc(responses={"200": {"description": "The file as uploaded, as the type its content is.", "content": {
        mime: {"schema": BINARY} for mime in sorted(attachments.ALLOWED)}}})
    def get(self, case_id, attachment_id):
        """The file of an attachment: a photo shown inline, a PDF downloaded."""
        case = service.get_case(db.session, case_id=case_id)
        return attachments.send(case=case, attachment_id=attachment_id)


@blp.route("/inbox")
class Inbox(MethodView):
    @blp.arguments(InboxArgs, location="query")
    @blp.response(200, CasePageSchema)
    def get(self, args):
        """待办: cases that arrived at your unit and wait to be accepted, accepted cases near or
        past their deadline, cases in progress that no one is given (your unit's own work, or let
        go of by an account that left) or that their assignee settled (`settled_at`: a successful
        mediation since the case came to you, to be resolved), and resolved cases waiting for your verification (核查结案: a
        town verifies its villages' and grids', district command its towns', and a unit's own
        wait for another of its people than the one who resolved them); and the accepted or
        in-progress cases assigned to you (a specialist's: given to them or their studio),
        whatever their colour. A grid worker's holds only what is assigned to them. The most
        urgent first. A village's inbox holds its grids' cases too (the village station accepts
        for them). Suspended and referred cases wait on no one here: the clock has stopped."""
        scope = current_scope()
        limit = args["limit"]
        rows, key = service.inbox(db.session, scope_path=scope.path if scope else "",
                                  principal_id=scope.principal_id if scope else None, limit=limit,
                                  after=decode_cursor(args["cursor"], kind=list),
                                  specialist=scope is not None and scope.role is Role.SPECIALIST,
                                  handles=scope is None or allows(scope.role, "cases:handle"))
        return _present_page(rows, limit, key)
