"""Schemathesis over /api/v1/openapi.json: every operation, the ones added later included, gets
generated valid and invalid input; none may answer 5xx or disagree with its documented schema."""

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gridgov.auth.permissions import ENDPOINTS, PUBLIC, ROLE_PERMISSIONS, SIGNED_IN, Role

# Files are not JSON; the import has its own tests (tests/tree/test_import.py).
EXCLUDED = {"POST /api/v1/units/import"}


@pytest.fixture
def api_schema(app, rollback, small_tree):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.checks.update(
        included_check_names=[
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_schema_conformance",
        ]
    )
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")
for operation in EXCLUDED:
    schema = schema.exclude(name=operation)


# Who calls each operation: a role that holds its permission, so that the fuzzing gets past the
# guard to the validation and the service behind it (as an admin, 28 of 60 operations only
# ever answered 403). District command holds most; the others hold what it does not.
CALLERS = [Role.DISTRICT_COMMAND, Role.ADMIN, Role.AUDITOR, Role.INTEGRATION]


def caller_role(app, method: str, path: str) -> Role:
    """The role to call ``method path`` (an OpenAPI path template) with; an admin for a method
    the path does not serve (the fuzzing tries those too: 405) and for what any signed-in
    principal may do."""
    for rule in app.url_map.iter_rules():
        template = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        permission = ENDPOINTS.get((rule.endpoint, method.upper()))
        if template.rstrip("/") == path.rstrip("/") and permission not in (None, PUBLIC, SIGNED_IN):
            return next(role for role in CALLERS if permission in ROLE_PERMISSIONS[role])
    return Role.ADMIN


def test_every_permission_of_the_api_has_a_caller_in_the_fuzzing():
    used = {permission for (endpoint, _method), permission in ENDPOINTS.items()}
    callable_ = set().union(*(ROLE_PERMISSIONS[role] for role in CALLERS))
    assert used - {PUBLIC, SIGNED_IN} <= callable_


@schema.parametrize()
@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_answers_every_input_without_server_errors(case, app, make_principal):
    # A new principal for each example: all operations share one transaction, and a generated
    # call may deactivate or revoke anyone.
    role = caller_role(app, case.method, case.path)
    _id, token = make_principal(role.value)
    # Not compressed: schemathesis asks for it (requests' default headers) and, through WSGI, does
    # not decode what comes back (compression has its own tests, test_security_headers.py).
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"})
    # Signed in with the right role, a 401 or a 403 from the guard would mean the fuzzing
    # never got past it.
    assert response.status_code != 401 or case.path == "/api/v1/auth/token", response.text
    assert not (response.status_code == 403 and "does not have the permission" in response.text), response.text
