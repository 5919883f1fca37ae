"""The flask-smorest ``Api`` and what every domain's views share: the blueprint class, the JSON
parser, the id converter, common fields and cursor pagination."""

import base64
import binascii
import decimal
import hashlib
import json
import re
from http import HTTPStatus
from urllib.parse import unquote_plus

import apispec
import flask_smorest
import marshmallow as ma
from flask import current_app, g, request
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import MultiDict
from werkzeug.routing import IntegerConverter

from gridgov import errors
from gridgov.auth import pii
from gridgov.config import DEFAULTS, PAGE_SIZE_MAX
from gridgov.db import moment_text, utc_moment

# Ids are 32-bit on every database; a larger number in a URL is simply an id that does not exist.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<id:unit_id>``: a positive 32-bit integer. Anything else is a 404, never a database error."""

    regex = r"[0-9]+"  # werkzeug's \d+ also takes full-width and other scripts' digits

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=MAX_ID, **kwargs)


def _json_depth_ok(data, limit: int) -> bool:
    """True when ``data`` nests no deeper than ``limit`` (iterative: it must not recurse itself)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return True


class Parser(FlaskParser):
    """webargs' parser, hardened: a recursion bomb, a too-deep document or a number of
    thousands of digits is a 400, not a 500."""

    DEFAULT_VALIDATION_STATUS = 422

    def _raw_load_json(self, req):
        if not webargs_core.is_json(req.mimetype):
            if req.content_length or req.get_data(cache=True):
                # A form or a text body would otherwise read as "no fields given".
                flask_smorest.abort(415, message="Send the body as application/json.")
            return webargs_core.missing
        try:
            data = webargs_core.parse_json(req.get_data(cache=True))
        except RecursionError:
            flask_smorest.abort(400, message="The JSON body is nested too deeply.")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise  # webargs answers these through _handle_invalid_json_error
        except ValueError:  # Python refuses to read an integer of more than 4,300 digits
            flask_smorest.abort(400, message="The JSON body holds a number too long to read.")
        if not _json_depth_ok(data, current_app.config["MAX_JSON_DEPTH"]):
            flask_smorest.abort(400, message="The JSON body is nested too deeply.")
        return data

    def load_querystring(self, req, schema):
        # ``?level=&q=&active=`` is what a form (or a client filling a URL template) sends for
        # "any": an empty parameter is an absent one, not an invalid level. A bare flag
        # (``?overdue``, no "=") stays, and is refused: read as "any" it would quietly answer the
        # unfiltered list.
        flags = {field.data_key or name for name, field in schema.fields.items() if isinstance(field, ma.fields.Boolean)}
        bare = {unquote_plus(part) for part in req.query_string.decode("latin-1").split("&") if part and "=" not in part}
        given = MultiDict((key, value) for key, value in req.args.items(multi=True)
                          if value != "" or (key in flags and key in bare))
        # A parameter the list does not take (?staus=closed, ?levle=grid): refused, not ignored
        # into the unfiltered list, which would look like an answer. A cache-buster (?_=1, as
        # jQuery adds) is nothing anyone meant as a filter.
        known = {field.data_key or name for name, field in schema.fields.items() if not field.dump_only}
        unknown = sorted(key for key in set(req.args) - known if not key.startswith("_"))
        if unknown:
            raise ma.ValidationError({key: ["Unknown parameter."] for key in unknown})
        # A parameter that takes one value, given twice (?category=a&category=b): refused, not
        # read as the first and the second dropped unseen.
        single = {field.data_key or name for name, field in schema.fields.items()
                  if not isinstance(field, ma.fields.List)}
        twice = sorted(key for key in given if key in single and len(given.getlist(key)) > 1)
        if twice:
            raise ma.ValidationError({key: ["Given more than once; it takes one value."] for key in twice})
        return self._makeproxy(given, schema)

    def parse(self, *args, **kwargs):
        parsed = super().parse(*args, **kwargs)
        if kwargs.get("location") == "query":
            g.query_args = dict(parsed)  # as read (defaults in, "any" and cache-busters out): see query_tag
        return parsed

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        flask_smorest.abort(400, message="The body is not valid UTF-8 JSON.")


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema, *args, **kwargs):
        # Given a class, webargs makes a schema per request (a deep copy of every field); one
        # made here serves them all.
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, the body of every error answer. Problems may carry extension
    members (e.g. ``expected_parent_level``), so other properties are allowed."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "Messages by field (or by line, for file imports)."},
    )


# Schemas of answers that are files, for the document (a view that answers a Response is not
# serialised by them).
BINARY = {"type": "string", "format": "binary"}
TEXT = {"type": "string"}


class OperationIds(apispec.BasePlugin):
    """Names every operation after its method and view (``getUnitById``, ``postCases``): the
    names a generated client gives its functions."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        view = rule.endpoint.rsplit(".", 1)[-1]
        for method, operation in operations.items():
            operation.setdefault("operationId", f"{method}{view}")


def _enum_type(_converter, field, **_kwargs) -> dict:
    """The enums are StrEnums answered by value: strings. (apispec writes their values and no
    type; OpenAPI 3.0 ignores ``nullable`` on a schema without one.)"""
    return {"type": "string"} if isinstance(field, ma.fields.Enum) else {}


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, *, extra_plugins=None, **kwargs):
        super()._init_spec(extra_plugins=[*(extra_plugins or ()), OperationIds()], **kwargs)
        self.ma_plugin.converter.add_attribute_function(_enum_type)

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)

    def _register_responses(self):
        # flask-smorest documents errors as application/json in its own shape; ours are problems.
        for status in HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["content"] = {errors.PROBLEM_MIMETYPE: {"schema": ProblemSchema}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(
            "DEFAULT_ERROR",
            {
                "description": "An error, as application/problem+json",
                "content": {errors.PROBLEM_MIMETYPE: {"schema": ProblemSchema}},
            },
            lazy=True,
        )


def refuse_query_not_taken() -> None:
    """An API operation that takes no query parameters refuses any (422), as one that takes some
    refuses the others (``Parser.load_querystring``): ``GET /units/7/children?level=grid`` would
    otherwise answer every child, which looks like an answer to the question asked. (Pages and
    operations not of the API, which have no ``_apidoc``, read what they read.)"""
    view = current_app.view_functions.get(request.endpoint)
    method = "get" if request.method == "HEAD" else request.method.lower()
    operation = getattr(view.view_class, method, None) if hasattr(view, "view_class") else view
    apidoc = getattr(operation, "_apidoc", None)
    if apidoc is None:
        return
    if any(parameter["in"] == "query" for parameter in apidoc.get("arguments", {}).get("parameters", ())):
        return
    if unknown := sorted(key for key in request.args if not key.startswith("_")):
        # As the lists' parser refuses one: the same problem type for the same mistake.
        flask_smorest.abort(422, messages={"query": {key: ["Unknown parameter."] for key in unknown}})


def action_field_errors(action: str, data: dict, *, required: set, optional: set) -> dict:
    """What is wrong with the fields of an action's body (a case's, a report's triage), by field:
    one the action needs and lacks or has blank, one it does not use."""
    errors = {name: [f"required for {action}"] for name in required - set(data)}
    # Text strips: blank is not an answer.
    errors |= {name: [f"required for {action}; blank is not enough"]
               for name in required & set(data) if data[name] == ""}
    errors |= {name: [f"not used by {action}"] for name in set(data) - required - optional}
    return errors


# --- fields -------------------------------------------------------------------------------------

# C0 and C1 control characters, but for tab and the line breaks a text may hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Not in a one-line text: tabs and what ends a line (U+2028 and U+2029 too, as splitlines() and
# browsers take them).
_LINE_BREAKS = "\t\n\r\u2028\u2029"
# Not in a name or a title either: what turns the direction of the text after it (a unit named
# so showed backwards in the QR page's title) or shows nothing at all (a name of a zero-width space
# looked blank; 零宽\u200b村 was not found as 零宽村). Joiners, variation selectors and the like,
# which emoji and some scripts are made of, are not among them.
_INVISIBLE = re.compile("[\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def unstorable(text: str, *, single_line: bool = False) -> str | None:
    """Why ``text`` cannot be stored as it is on every database (NUL and other control
    characters, lone surrogates), or None. For JSON (``Text``), forms, Open311 and the unit
    import alike. ``single_line`` refuses tabs and line breaks too, and invisible characters and
    direction controls (``_INVISIBLE``): a name travels through CSV files and page titles."""
    if _CONTROL.search(text):
        return "Control characters are not allowed."
    if single_line and any(char in text for char in _LINE_BREAKS):
        return "One line: no tabs or line breaks."
    if single_line and _INVISIBLE.search(text):
        return "Invisible characters (zero-width spaces, direction marks and the like) are not allowed."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Not valid Unicode text."
    return None


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CODE_CELL = re.compile(r"\t[0-9]+", re.ASCII)


def code_cell(code: str) -> str:
    """A code of digits (a micro-grid's has 18) as a spreadsheet keeps it: after a tab, Excel and
    WPS read it as text; as a number they show 5.10503E+17 and keep 15 digits, so a grid's
    micro-grids all read alike and an edited export no longer imports. The import strips the tab."""
    return "\t" + code


def inert_cell(value):
    """Text a spreadsheet would run as a formula (a title "=HYPERLINK(…)") with a leading
    apostrophe, which spreadsheets show as text (OWASP's advice on CSV injection); so too text
    that already starts with apostrophes before such a character, so that ``read_cell`` can
    always take one off. A ``code_cell`` is digits, nothing to run."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS) and not CODE_CELL.fullmatch(value):
        return "'" + value
    return value


def read_cell(text: str) -> str:
    """A cell as ``inert_cell`` wrote it, read back: an exported file imports unchanged."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS) else text


class Text(ma.fields.String):
    """A string that every database can store: no NUL or control characters, no lone surrogates,
    surrounding whitespace stripped, and a required length; ``single_line``: see ``unstorable``."""

    def __init__(self, *, max_length: int, min_length: int = 0, single_line: bool = False, **kwargs):
        validators = list(kwargs.pop("validate", []) or [])
        validators.insert(0, ma.validate.Length(min=min_length, max=max_length))
        self.single_line = single_line
        super().__init__(validate=validators, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if (why := unstorable(text, single_line=self.single_line)) is not None:
            raise ma.ValidationError(why)
        return text


class Moment(ma.fields.AwareDateTime):
    """An ISO 8601 moment with its offset, given back in UTC, in one form (``moment_text``)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else moment_text(value)

    # "…T00:00:00+08:00" typed into a URL arrives with a space for the "+" (form encoding).
    SPACED_OFFSET = re.compile(r"([T ][0-9:.]+) ([0-9]{2}:?[0-9]{2})\Z", re.ASCII)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = self.SPACED_OFFSET.sub(r"\1+\2", value)
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return utc_moment(moment)
        except ValueError as error:
            raise ma.ValidationError(f"Not a moment this service can store: {error}.") from None


class FullMatch(ma.validate.Regexp):
    """A pattern the whole value must match. marshmallow's ``Regexp`` only looks for a match at
    the start, and ``$`` also matches before a final line break: "510600\\n" passed as a code.
    The pattern stays as written for the OpenAPI document, where clients read it."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


class Phone(ma.fields.String):
    """A phone number (``pii.PHONE_PATTERN``), full-width digits read as digits."""

    def __init__(self, **kwargs):
        super().__init__(validate=FullMatch(pii.PHONE_PATTERN, error="Not a phone number."), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return pii.typed_phone(super()._deserialize(value, attr, data, **kwargs))


class _PlainNumber:
    """A number field that, given the number as text (a query string, a JSON string), wants it
    written in plain ASCII (``pattern``): Python's parsers also read "1_0" and "１０"."""

    pattern: re.Pattern

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not self.pattern.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


# A number written as text: ASCII digits, a point, an exponent (what JSON's own numbers allow).
NUMBER_TEXT = re.compile(r"\s*[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,3})?\s*", re.ASCII)


class Integer(_PlainNumber, ma.fields.Integer):
    pattern = re.compile(r"[+-]?[0-9]{1,20}", re.ASCII)


class Float(_PlainNumber, ma.fields.Float):
    pattern = NUMBER_TEXT


class Decimal(_PlainNumber, ma.fields.Decimal):
    pattern = NUMBER_TEXT

    def _deserialize(self, value, attr, data, **kwargs):
        # marshmallow rounds to ``places`` (half to even) without a word: 12.345 yuan became
        # 12.34. More digits than the amount holds are refused instead.
        if self.places is not None and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                given = decimal.Decimal(str(value).strip())
            except decimal.InvalidOperation:
                given = None
            # Normalised ("12.300" is 12.3): the digits it has after the point, not those written.
            if given is not None and given.is_finite() and \
                    given.normalize().as_tuple().exponent < self.places.as_tuple().exponent:
                raise ma.ValidationError(f"At most {-self.places.as_tuple().exponent} decimal places.")
        return super()._deserialize(value, attr, data, **kwargs)


class Boolean(ma.fields.Boolean):
    """A JSON body's true or false, and nothing else: marshmallow also takes 1, "yes" and "on",
    and ``{"apply": 1}`` applied a plan. (Query strings, which are text, keep the plain field.)"""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):  # 1 == True to Python: a set of truthy values would take it
            raise self.make_error("invalid", input=value)
        return value


def Id(*, strict: bool = True, **kwargs) -> ma.fields.Integer:
    """A row id. In JSON bodies ``strict`` (no ``"12"`` or ``12.0``); query strings are text,
    so their ids are given as ``Id(strict=False)``."""
    return Integer(strict=strict, validate=ma.validate.Range(1, MAX_ID), **kwargs)


# --- cursor pagination --------------------------------------------------------------------------


class PageArgs(ma.Schema):
    limit = Integer(
        load_default=None,
        validate=ma.validate.Range(1, PAGE_SIZE_MAX),
        metadata={"description": f"Items per page (default {DEFAULTS['PAGE_SIZE_DEFAULT']} unless "
                                        f"the deployment says otherwise, at most {PAGE_SIZE_MAX})."},
    )
    cursor = Text(
        max_length=512,
        load_default=None,
        metadata={"description": "`next_cursor` of the previous page."},
    )


def encode_cursor(key) -> str:
    """The cursor of ``key`` (the last row's place in the order) for the query being answered."""
    raw = json.dumps([query_tag(), key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def query_tag() -> str:
    """What a cursor is issued for: the path (its case, its unit) and the query as read, but the
    cursor and the page size (a default given or not, an empty "any", a cache-buster, the order of
    repeated values: the same query). Passed with another list, sort or filter, a key from one
    order would start another at a place that means something else there (a creation time read
    as a deadline skipped every overdue case before it)."""
    asked = {name: sorted(map(str, value)) if isinstance(value, list) else value
             for name, value in g.get("query_args", {}).items()
             if name not in ("cursor", "limit") and value is not None}
    return hashlib.sha256(json.dumps([request.path, asked], sort_keys=True, default=str).encode()).hexdigest()[:12]


_CURSOR_TEXT = re.compile(r"[0-9A-Za-z.:_+\-]{1,200}")


def _cursor_id(key) -> bool:
    return type(key) is int and 0 <= key <= MAX_ID


def _cursor_text(key) -> bool:
    return isinstance(key, str) and _CURSOR_TEXT.fullmatch(key) is not None


def decode_cursor(cursor: str | None, *, kind: type):
    """The key a cursor carries: an id, or a short ASCII key (a path, a timestamp). Anything
    that ``encode_cursor`` would not have made is a 400, before it reaches a query."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        tag, key = None, None
    valid = isinstance(tag, str) and (
        (kind is int and _cursor_id(key))
        or (kind is str and _cursor_text(key))
        # a keyset: [sort value, id]
        or (kind is list and isinstance(key, list) and len(key) == 2 and _cursor_text(key[0]) and _cursor_id(key[1]))
    )
    if not valid:
        raise errors.InvalidInput("The cursor is not one this service issued (nor one from before its last upgrade): "
                                  "start again without it.")
    if tag != query_tag():
        raise errors.InvalidInput("The cursor belongs to another query: its list, sort and filters must be the ones "
                                  "that gave it (only `limit` may change). Start again without it.")
    return key


def page_limit(limit: int | None) -> int:
    return limit or current_app.config["PAGE_SIZE_DEFAULT"]


def page(rows: list, limit: int, key) -> dict:
    """``{"items": …, "next_cursor": …}`` from up to ``limit + 1`` rows fetched in key order."""
    has_more = len(rows) > limit
    items = rows[:limit]
    next_cursor = encode_cursor(key(items[-1])) if has_more and items else None
    return {"items": items, "next_cursor": next_cursor}


def page_by_id(args: dict, fetch) -> dict:
    """A page of rows in id order from query ``args`` (``limit``, ``cursor`` and filters):
    ``fetch(after_id=…, limit=…, **filters)`` returns up to ``limit + 1`` rows."""
    filters = dict(args)
    limit = page_limit(filters.pop("limit"))
    after_id = decode_cursor(filters.pop("cursor"), kind=int)
    return page(fetch(after_id=after_id, limit=limit, **filters), limit, key=lambda row: row.id)


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "next_cursor": ma.fields.String(
                allow_none=True,
                required=True,
                metadata={"description": "Pass as `cursor` for the next page; null on the last."},
            ),
        },
        name=name,
    )
