import marshmallow as ma
from marshmallow import fields, validate

from gridgov.api import FullMatch, Id, Moment, PageArgs, Text, page_schema
from gridgov.auth.permissions import ROLE_PERMISSIONS, Role
from gridgov.auth.service import is_locked

USERNAME = FullMatch(r"^[A-Za-z0-9._-]{3,64}$", error="3 to 64 letters, digits, '.', '_' or '-'.")
PASSWORD = validate.Length(min=8, max=128)


class Password(fields.String):
    """Any text, spaces and all, that can be hashed: not a lone surrogate, which JSON can carry
    and UTF-8 cannot (argon2 hashes bytes)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ma.ValidationError("Not valid Unicode text.") from None
        return text


class ScopeUnitSchema(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)


class PrincipalSchema(ma.Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    role = fields.Enum(Role, by_value=True, required=True)
    scope_unit_id = fields.Integer(allow_none=True, required=True, metadata={"description": "null: every district."})
    scope_unit = fields.Nested(ScopeUnitSchema, allow_none=True, required=True)
    district_id = fields.Integer(allow_none=True, required=True)
    active = fields.Boolean(required=True)
    locked = fields.Function(lambda principal: is_locked(principal), required=True, metadata={"type": "boolean"})
    has_password = fields.Function(lambda principal: principal.password_hash is not None, required=True,
                                   metadata={"type": "boolean"})
    version = fields.Integer(required=True)
    created_at = Moment(required=True)
    updated_at = Moment(required=True)


PrincipalPageSchema = page_schema(PrincipalSchema, "PrincipalPage")


class MeSchema(PrincipalSchema):
    permissions = fields.Function(
        lambda principal: sorted(ROLE_PERMISSIONS[principal.role]),
        required=True,
        metadata={"type": "array", "items": {"type": "string"}},
    )


class PrincipalCreateSchema(ma.Schema):
    username = fields.String(required=True, validate=USERNAME)
    display_name = Text(required=True, min_length=1, max_length=100, single_line=True)
    role = fields.Enum(Role, by_value=True, required=True)
    scope_unit_id = Id(
        required=True, allow_none=True,
        metadata={"description": "The unit whose subtree they act in; null for every district "
                  "(only an account with that scope may grant it)."},
    )
    password = Password(validate=PASSWORD, metadata={"description": "Omit for accounts that use tokens only."})


class PrincipalPatchSchema(ma.Schema):
    display_name = Text(min_length=1, max_length=100, single_line=True)
    role = fields.Enum(Role, by_value=True)
    scope_unit_id = Id(allow_none=True)
    version = fields.Integer(strict=True, validate=validate.Range(1, 2**31 - 1))


class PrincipalListArgs(PageArgs):
    role = fields.Enum(Role, by_value=True)
    active = fields.Boolean()


class PasswordSchema(ma.Schema):
    password = Password(required=True, validate=PASSWORD)


class TokenRequestSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(1, 64))
    password = fields.String(required=True, validate=validate.Length(1, 128))


class TokenCreateSchema(ma.Schema):
    principal_id = Id(required=True)
    name = Text(load_default="api", min_length=1, max_length=100, single_line=True)
    expires_in_days = fields.Integer(
        strict=True, allow_none=True, load_default=90, validate=validate.Range(1, 3650),
        metadata={"description": "Days until it expires; null for a token that does not expire."},
    )


class TokenSchema(ma.Schema):
    id = fields.Integer(required=True)
    principal_id = fields.Integer(required=True)
    username = fields.Function(lambda token: token.principal.username, required=True, metadata={"type": "string"})
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The token's first characters."})
    created_at = Moment(required=True)
    expires_at = Moment(allow_none=True, required=True)
    revoked_at = Moment(allow_none=True, required=True)


TokenPageSchema = page_schema(TokenSchema, "TokenPage")


class IssuedTokenSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "Shown this once; only its hash is kept."})


class TokenListArgs(PageArgs):
    principal_id = Id(strict=False)


class AuditEventSchema(ma.Schema):
    id = fields.Integer(required=True)
    at = Moment(required=True)
    actor_id = fields.Integer(allow_none=True, required=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    target_type = fields.String(required=True)
    target_id = fields.Integer(allow_none=True, required=True)
    target_label = fields.String(required=True)
    details = fields.Dict(required=True)


AuditPageSchema = page_schema(AuditEventSchema, "AuditPage")


class AuditListArgs(PageArgs):
    action = Text(max_length=50)
    target_type = fields.String(validate=validate.OneOf(["unit", "principal"]))


class PermissionTableSchema(ma.Schema):
    roles = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)
    permissions = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    endpoints = fields.List(fields.Dict(), required=True, metadata={
        "description": "`{method, path, endpoint, permission}`: `path` as in this document, `permission` a "
                       "permission, `public` or `signed_in`."})
    case_actions = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "action of `POST /cases/{case_id}/actions` → the permission it needs (the endpoint itself "
                       "needs only `cases:attempt`); `attach` is `POST /cases/{case_id}/attachments`."})
