"""``/api/v1/auth/token``, ``/me``, ``/permissions``, ``/principals``, ``/tokens``, ``/audit``."""

from datetime import timedelta
from functools import partial

from flask import current_app, g, request
from flask.views import MethodView

from gridgov.api import Blueprint, decode_cursor, page, page_by_id, page_limit
from gridgov.auth import openapi_path, service
from gridgov.auth.permissions import ACTION_PERMISSIONS, ENDPOINTS, PERMISSIONS, ROLE_PERMISSIONS
from gridgov.auth.schemas import (
    AuditListArgs,
    AuditPageSchema,
    IssuedTokenSchema,
    MeSchema,
    PasswordSchema,
    PermissionTableSchema,
    PrincipalCreateSchema,
    PrincipalListArgs,
    PrincipalPageSchema,
    PrincipalPatchSchema,
    PrincipalSchema,
    TokenCreateSchema,
    TokenListArgs,
    TokenPageSchema,
    TokenRequestSchema,
)
from gridgov.db import db
from gridgov.errors import RuleViolation

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Accounts, tokens, permissions and the admin audit log.")


@blp.route("/auth/token")
class Token(MethodView):
    @blp.arguments(TokenRequestSchema)
    @blp.response(201, IssuedTokenSchema)
    def post(self, data):
        """Exchange a username and password for a short-lived API token.

        Repeated failures lock the account for a while (429 with `Retry-After`)."""
        principal = service.authenticate(db.session, **data)
        g.principal = principal  # from here on the request acts as them (the audit log says so)
        hours = current_app.config["SIGN_IN_TOKEN_HOURS"]
        token, text = service.issue_token(
            db.session, principal=principal, name="sign-in", expires_in=timedelta(hours=hours)
        )
        db.session.commit()
        return _issued(token, text)

    @blp.response(204)
    def delete(self):
        """Sign out a program or a phone: the token this request is made with stops working (a
        lost phone's, from another device: `DELETE /tokens/{id}` by an admin)."""
        scheme, _, text = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            raise RuleViolation("Send the token to revoke as 'Authorization: Bearer …' (a browser signs out "
                                "at /logout).")
        service.revoke_token(db.session, token=service.token_of_text(db.session, text=text.strip()))
        db.session.commit()


def _issued(token, text):
    token.token = text  # shown in this answer only; never stored
    return token


@blp.after_request
def _no_store(response):
    # Answers may carry a token or personal data: no cache in between may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """The signed-in principal, with the permissions of their role."""
        return g.principal


@blp.route("/permissions")
class Permissions(MethodView):
    @blp.response(200, PermissionTableSchema)
    def get(self):
        """The permission table: what each role may do, what each endpoint (by its path) needs,
        and what each action of `POST /cases/{case_id}/actions` needs beyond that."""
        paths = {}
        for rule in current_app.url_map.iter_rules():
            paths.setdefault(rule.endpoint, openapi_path(rule.rule))
        return {
            "roles": {role.value: sorted(names) for role, names in ROLE_PERMISSIONS.items()},
            "permissions": PERMISSIONS,
            "endpoints": [
                {"method": method, "path": paths[endpoint], "endpoint": endpoint, "permission": permission}
                for (endpoint, method), permission in ENDPOINTS.items()
            ],
            "case_actions": ACTION_PERMISSIONS,
        }


@blp.route("/principals")
class Principals(MethodView):
    @blp.arguments(PrincipalListArgs, location="query")
    @blp.response(200, PrincipalPageSchema)
    def get(self, args):
        """Accounts whose scope lies in yours."""
        return page_by_id(args, partial(service.list_principals, db.session))

    @blp.arguments(PrincipalCreateSchema)
    @blp.response(201, PrincipalSchema)
    def post(self, data):
        """Create an account with a role and a scope (a unit of your subtree)."""
        principal = service.create_principal(db.session, **data)
        db.session.commit()
        return principal


@blp.route("/principals/<id:principal_id>")
class PrincipalById(MethodView):
    @blp.response(200, PrincipalSchema)
    def get(self, principal_id):
        """One account in your scope."""
        return service.get_principal(db.session, principal_id=principal_id)

    @blp.arguments(PrincipalPatchSchema)
    @blp.response(200, PrincipalSchema)
    def patch(self, data, principal_id):
        """Change the display name, role or scope; the account's sessions end."""
        principal = service.get_principal(db.session, principal_id=principal_id)
        principal = service.update_principal(db.session, principal=principal, **data)
        db.session.commit()
        return principal


@blp.route("/principals/<id:principal_id>/deactivate")
class Deactivate(MethodView):
    @blp.response(200, PrincipalSchema)
    def post(self, principal_id):
        """Deactivate an account: its sessions end and its tokens are revoked."""
        principal = service.deactivate(db.session, principal=service.get_principal(db.session, principal_id=principal_id))
        db.session.commit()
        return principal


@blp.route("/principals/<id:principal_id>/activate")
class Activate(MethodView):
    @blp.response(200, PrincipalSchema)
    def post(self, principal_id):
        """Reactivate a deactivated account; it signs in again or is issued new tokens (the old
        ones stay revoked)."""
        principal = service.activate(db.session, principal=service.get_principal(db.session, principal_id=principal_id))
        db.session.commit()
        return principal


@blp.route("/principals/<id:principal_id>/unlock")
class Unlock(MethodView):
    @blp.response(200, PrincipalSchema)
    def post(self, principal_id):
        """Lift a lock-out after failed sign-ins."""
        principal = service.unlock(db.session, principal=service.get_principal(db.session, principal_id=principal_id))
        db.session.commit()
        return principal


@blp.route("/principals/<id:principal_id>/password")
class Password(MethodView):
    @blp.arguments(PasswordSchema)
    @blp.response(200, PrincipalSchema)
    def post(self, data, principal_id):
        """Set a new password; the account is unlocked and its sessions end."""
        principal = service.get_principal(db.session, principal_id=principal_id)
        principal = service.set_password(db.session, principal=principal, password=data["password"])
        db.session.commit()
        return principal


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.arguments(TokenListArgs, location="query")
    @blp.response(200, TokenPageSchema)
    def get(self, args):
        """Tokens of the accounts in your scope (never the tokens themselves)."""
        return page_by_id(args, partial(service.list_tokens, db.session))

    @blp.arguments(TokenCreateSchema)
    @blp.response(201, IssuedTokenSchema)
    def post(self, data):
        """Issue a token for an account; the answer is the only time it is shown."""
        principal = service.get_principal(db.session, principal_id=data["principal_id"])
        service.check_may_hand_out(principal.role, "issue a token for such an account", command="tokens issue")
        days = data["expires_in_days"]
        token, text = service.issue_token(
            db.session, principal=principal, name=data["name"],
            expires_in=timedelta(days=days) if days is not None else None,
        )
        db.session.commit()
        return _issued(token, text)


@blp.route("/tokens/<id:token_id>")
class TokenById(MethodView):
    @blp.response(204)
    def delete(self, token_id):
        """Revoke a token: it stops working at once."""
        service.revoke_token(db.session, token=service.get_token(db.session, token_id=token_id))
        db.session.commit()


@blp.route("/audit")
class AuditLog(MethodView):
    @blp.arguments(AuditListArgs, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args):
        """The admin audit log of your subtree, newest first."""
        limit = page_limit(args["limit"])
        before_id = decode_cursor(args["cursor"], kind=int)
        rows = service.list_admin_events(
            db.session, action=args.get("action"), target_type=args.get("target_type"),
            before_id=before_id, limit=limit,
        )
        return page(rows, limit, key=lambda event: event.id)
