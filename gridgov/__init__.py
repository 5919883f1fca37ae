"""gridgov: the grid-governance service of a county-level social governance centre."""

import os
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

from gridgov import config as settings
from gridgov.api import Api, IdConverter, refuse_query_not_taken
# Not `from gridgov.db import db`: that name would shadow the gridgov.db module, which
# migrations refer to for its column types.
from gridgov.db import configure_engine_events
from gridgov.db import db as database

# The top-level migrations/ folder; installed beside the package too, so a wheel can migrate.
MIGRATIONS_DIRECTORY = str(Path(__file__).resolve().parent.parent / "migrations")

migrate = Migrate(render_as_batch=True, compare_type=True)


class JSONProvider(DefaultJSONProvider):
    ensure_ascii = False  # Chinese names readable in answers
    sort_keys = False

    def dumps(self, obj, **kwargs):
        text = super().dumps(obj, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (echoed from bad input) cannot be UTF-8; escaped, it is valid JSON.
            text = super().dumps(obj, **{**kwargs, "ensure_ascii": True})
        return text

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def create_app(config: dict | None = None) -> Flask:
    """The application. ``config`` overrides the environment, which overrides the defaults."""
    overrides = {**settings.from_environment(), **(config or {})}
    instance_path = overrides.get("INSTANCE_PATH")
    # Flask wants it absolute; an operator's relative path means from where they stand.
    app = Flask(__name__, instance_path=os.path.abspath(instance_path) if instance_path else None,
                instance_relative_config=True)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.config.from_mapping(settings.DEFAULTS)
    app.config.update(overrides)
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", _database_url(app))
    settings.check(app.config)  # before anything is made of the settings
    # A database error's message leaves out the statement's values: they are residents' names,
    # phones and ID hashes, and the message goes to the log. A server's pooled connection is tested
    # before each request takes it: after the server restarts (or a firewall drops an idle
    # connection) every worker would otherwise fail one request per connection it kept. (An SQLite
    # file has no connection to lose.)
    server = not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"hide_parameters": True, "pool_pre_ping": server,
                                                        "connect_args": _connect_args(app)})
    app.config.update(
        API_TITLE="gridgov",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"info": {"description": _api_description()}},
    )
    if app.config["PROXY_FIX"]:
        hops = app.config["PROXY_FIX"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.url_map.converters["id"] = IdConverter
    app.url_map.strict_slashes = False

    database.init_app(app)
    with app.app_context():
        configure_engine_events(database.engine)
    migrate.init_app(app, database, directory=MIGRATIONS_DIRECTORY)

    from gridgov import auth, compression, docs, errors, health, limits, security
    from gridgov.auth import cli as auth_cli
    from gridgov.auth import pages as auth_pages
    from gridgov.auth import views as auth_views
    from gridgov.cases import cli as cases_cli
    from gridgov.cases import policy as case_policy
    from gridgov.cases import views as cases_views
    from gridgov.people import views as people_views
    from gridgov.reports import open311
    from gridgov.reports import pages as report_pages
    from gridgov.reports import views as report_views
    from gridgov.rollups import cli as rollup_cli
    from gridgov.rollups import pages as command_pages
    from gridgov.rollups import views as rollup_views
    from gridgov.tree import cli as tree_cli
    from gridgov.tree import service as tree_service
    from gridgov.tree import views as tree_views
    from seeds import cli as seed_cli

    # Built now, so that a case policy that does not make sense stops the start.
    app.extensions["gridgov.case_policy"] = case_policy.from_config(app.config["CASE_POLICY"])
    errors.register_error_handlers(app)
    compression.init_app(app)  # first: its after_request runs last
    security.init_app(app)
    app.jinja_env.globals["site_name"] = tree_service.site_name
    app.jinja_env.globals["report_brand"] = report_views.report_brand
    api = Api(app)
    api.register_converter(IdConverter, lambda _converter: {"type": "integer", "minimum": 1, "maximum": 2**31 - 1})
    api.register_blueprint(tree_views.blp)
    api.register_blueprint(auth_views.blp)
    api.register_blueprint(cases_views.blp)
    api.register_blueprint(people_views.blp)
    api.register_blueprint(report_views.blp)
    api.register_blueprint(rollup_views.blp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth_pages.bp)
    app.register_blueprint(report_pages.bp)
    app.register_blueprint(command_pages.bp)
    app.register_blueprint(open311.bp)
    limits.init_app(app)
    auth.init_app(app, api)  # last: it checks that every endpoint above is in the permission table
    app.before_request(refuse_query_not_taken)  # after the guard: a stranger learns nothing of the API
    app.cli.add_command(tree_cli.units)
    app.cli.add_command(auth_cli.principals)
    app.cli.add_command(auth_cli.tokens)
    app.cli.add_command(cases_cli.cases)
    app.cli.add_command(rollup_cli.rollups)
    app.cli.add_command(seed_cli.seed)
    return app


def _api_description() -> str:
    from gridgov.auth.permissions import as_markdown

    return (
        "The REST API of gridgov, the grid-governance service of a county-level social "
        "governance centre (区社会治理中心).\n\n"
        "Send an API token as `Authorization: Bearer …` (from `POST /api/v1/auth/token` or "
        "`flask --app gridgov tokens issue`), or sign in at `/login`. Every principal acts "
        "within a scope, a subtree of units: anything outside it answers 404.\n\n"
        "Errors are `application/problem+json` (RFC 9457). A query parameter an operation does not take "
        "is refused (422), not ignored (but for names that start with `_`: cache-busters).\n\n"
        "## Who may do what\n\n" + as_markdown()
    )


def _connect_args(app: Flask) -> dict:
    """A server that accepts a new connection and never answers (a half-open firewall, a hung
    host) made a request wait for ever, to die at gunicorn's timeout as its HTML 500: 5 s, then
    the 503 of a database out of reach. (A connection already open that stops being answered
    still waits: only the server's side can time a statement out.) A ``connect_timeout`` the
    operator gave, in the URL or libpq's environment, is theirs."""
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if (url.get_backend_name() != "postgresql" or {"connect_timeout", "service"} & set(url.query)
            or "PGCONNECT_TIMEOUT" in os.environ):
        return {}
    return {"connect_timeout": 5}


def _database_url(app: Flask) -> str:
    url = app.config.get("DATABASE_URL")
    if url:
        return url
    # The database file, the attachments and the secret key live here: readable by the service's
    # own user only (a file's own mode follows the umask; the folder's keeps others out).
    try:
        Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"GRIDGOV_INSTANCE_PATH: {app.instance_path} cannot be made ({error.strerror}); name a "
                         "folder the service may write, or set GRIDGOV_DATABASE_URL") from None
    return f"sqlite:///{Path(app.instance_path) / 'gridgov.db'}"
