"""People acting on one case at once, on real commits: exactly one wins per version, the others get
a conflict, and the audit log still rebuilds the case.

Each thread has its own application context and so its own session and connection. PostgreSQL
and SQLite let them all read the same version (on SQLite a read takes no lock); the losers'
``UPDATE … WHERE version = :seen`` then finds no row (``StaleDataError``, answered as
``Conflict``).
"""

import threading
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from gridgov.auth import service as auth_service
from gridgov.auth.models import Principal
from gridgov.auth.permissions import Role
from gridgov.cases import service
from gridgov.cases.enums import Outcome, ReferralChannel, Status
from gridgov.cases.models import Case, CaseEvent, Party
from gridgov.cases.transitions import TRANSITIONS, allowed_from
from gridgov.db import db
from gridgov.errors import Conflict
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit

THREADS = 8
PARAMS = {
    "accept": {},
    "suspend": {"reason": "当事人外出"},
    "resume": {},
    "reject": {"reason": "duplicate"},
    "record_attempt": {"outcome": Outcome.FAILURE},
    "resolve": {"note": "双方和解"},
    "refer": {"channel": ReferralChannel.LABOUR_ARBITRATION},
    "return_from_referral": {"outcome": "award"},
    "close": {},
    "send_back": {"reason": "核查未通过"},
    "reopen": {"reason": "异议"},
    "follow_up": {"satisfaction": 3},
}


def normalised(state: dict) -> dict:
    return {
        key: datetime.fromisoformat(value) if isinstance(value, str) and key.endswith("_at")
        else Decimal(value) if key == "amount_in_dispute" and value is not None else value
        for key, value in state.items()
    }


def run_threads(work, arguments) -> None:
    threads = [threading.Thread(target=work, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_one_action_wins_per_version_and_the_log_matches(app, scratch_district):
    with app.app_context():
        case, _ = service.create_case(db.session, actor=None, title="并发处置", category="family_neighbour",
                                      risk_grade="blue", source="hotline", origin_unit_id=scratch_district.microgrid)
        db.session.commit()
        case_id, version, status = case.id, case.version, case.status

    winners, suspended_from = [], None
    for _round in range(5):
        # every action allowed now but the final reject (so that the case lives on for more rounds)
        choices = [action for action in allowed_from(status) if action in PARAMS and action != "reject"]
        if not choices:
            break
        # several times over, all claiming the version they saw
        actions = [choices[n % len(choices)] for n in range(THREADS)]
        start = threading.Barrier(THREADS)
        won, conflicts, failures = [], [], []

        def work(action):
            with app.app_context():
                try:
                    # Everyone reads the same version before anyone writes (on SQLite too: a
                    # read takes no lock there).
                    row = service.get_case(db.session, case_id=case_id)
                    start.wait()
                    service.act(db.session, case=row, action=action, actor=None, version=version,
                                params=dict(PARAMS[action]))
                    db.session.commit()
                    won.append(action)
                except Conflict:
                    db.session.rollback()
                    conflicts.append(action)
                except Exception as error:  # noqa: BLE001 — reported below
                    failures.append(error)

        run_threads(work, actions)

        assert failures == []
        assert len(won) == 1, won
        assert len(conflicts) == THREADS - 1
        winners.append(won[0])
        with app.app_context():
            row = db.session.get(Case, case_id)
            expected = TRANSITIONS[won[0]].target or {"resume": suspended_from, "send_back": Status.IN_PROGRESS}.get(
                won[0], status)
            assert row.status is expected
            suspended_from = status if won[0] == "suspend" else suspended_from
            assert row.version > version
            version, status = row.version, row.status

    assert len(winners) == 5  # the case did move on, round after round
    with app.app_context():
        row = db.session.get(Case, case_id)
        events = service.events(db.session, case=row)
        assert [event.action for event in events] == ["create", *winners]
        assert events[-1].to_status is row.status
        assert normalised(service.replay(events)) == normalised(service.snapshot(row))


def reserve_all_at_once(monkeypatch, workers: int) -> None:
    """Let every request reach the reservation of its Idempotency-Key before any of them goes on:
    the interleaving retries arriving together can have."""
    arrived = threading.Barrier(workers)
    original = service._reserve_key

    def wait_then_reserve(*args, **kwargs):
        arrived.wait(timeout=10)
        return original(*args, **kwargs)

    monkeypatch.setattr(service, "_reserve_key", wait_then_reserve)


def test_a_retried_post_racing_itself_logs_one_case(app, scratch_district, monkeypatch):
    """Phones on bad networks retry: the same Idempotency-Key arriving twice at once."""
    with app.app_context():
        principal = auth_service.create_principal(
            db.session, username="race.grid", display_name="并发网格员", role=Role.GRID_WORKER,
            scope_unit_id=scratch_district.grid,
        )
        db.session.commit()
        principal_id = principal.id
    workers = 4
    reserve_all_at_once(monkeypatch, workers)
    start = threading.Barrier(workers)
    results, failures = [], []

    def work(_n):
        with app.app_context():
            start.wait()
            try:
                actor = db.session.get(Principal, principal_id)
                case, created = service.create_case(
                    db.session, actor=actor, idempotency_key="retry-0001", title="重复提交", category="other",
                    risk_grade="blue", source="grid_patrol", origin_unit_id=scratch_district.microgrid,
                )
                db.session.commit()
                results.append((case.id, created))
            except Exception as error:  # noqa: BLE001 — reported below
                db.session.rollback()
                failures.append(repr(error))

    run_threads(work, range(workers))

    assert failures == []
    assert len({case_id for case_id, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    with app.app_context():
        logged = db.session.scalars(sa.select(Case).where(Case.district_id == scratch_district.district)).all()
        assert len(logged) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == logged[0].id)) == 1


def test_a_retried_action_racing_itself_is_done_once(app, scratch_district, monkeypatch):
    """The same action with the same Idempotency-Key arriving several times at once: one does it,
    the others answer the case it made (before keys were taken on actions: one, and 409s)."""
    with app.app_context():
        principal = auth_service.create_principal(
            db.session, username="race.village", display_name="并发村站", role=Role.VILLAGE_STATION,
            scope_unit_id=scratch_district.village,
        )
        case, _ = service.create_case(db.session, actor=None, title="重复提交", category="other", risk_grade="blue",
                                      source="grid_patrol", origin_unit_id=scratch_district.microgrid)
        service.act(db.session, case=case, action="accept", actor=None, version=case.version, params={})
        db.session.commit()
        principal_id, case_id, version = principal.id, case.id, case.version
    workers = 4
    reserve_all_at_once(monkeypatch, workers)
    results, failures = [], []

    def work(_n):
        with app.app_context():
            try:
                actor = db.session.get(Principal, principal_id)
                case, acted = service.act_once(
                    db.session, case_id=case_id, action="record_attempt", actor=actor, version=version,
                    params={"outcome": Outcome.FAILURE}, idempotency_key="retry-0002")
                db.session.commit()
                results.append((case.version, acted))
            except Exception as error:  # noqa: BLE001 — reported below
                db.session.rollback()
                failures.append(repr(error))

    run_threads(work, range(workers))

    assert failures == []
    assert sorted(results) == [(version + 1, False)] * (workers - 1) + [(version + 1, True)]
    with app.app_context():
        actions = db.session.scalars(sa.select(CaseEvent.action).where(CaseEvent.case_id == case_id)).all()
        assert actions == ["create", "accept", "record_attempt"]


def test_a_unit_deleted_while_a_party_is_given_it_as_home_is_not_cleared_from_them(app, scratch_district, monkeypatch):
    """Found in review: the delete's guards looked before anything was locked, and a case logged
    between their look and the DELETE had its party's home cleared by the foreign key's SET NULL,
    with no event. Now one of the two waits for the other: the case is refused, or the delete."""
    with app.app_context():
        home = tree_service.create_unit(db.session, name="待撤并微网格", level=Level.MICROGRID,
                                        code="990003001001001002", parent_id=scratch_district.grid)
        db.session.commit()
        home_id = home.id
    looked, logged = threading.Event(), threading.Event()
    guards = list(tree_service.DELETE_GUARDS)

    def guards_then_a_pause(session, unit):
        for guard in guards:
            if (message := guard(session, unit)) is not None:
                return message
        looked.set()
        logged.wait(timeout=1)  # the case is logged meanwhile, if nothing makes it wait
        return None

    monkeypatch.setattr(tree_service, "DELETE_GUARDS", [guards_then_a_pause])
    outcomes = {}

    def delete(_):
        with app.app_context():
            try:
                tree_service.delete_unit(db.session, unit=db.session.get(Unit, home_id))
                db.session.commit()
                outcomes["delete"] = "done"
            except Exception as error:  # noqa: BLE001 — judged below
                db.session.rollback()
                outcomes["delete"] = repr(error)

    def log_case(_):
        looked.wait(timeout=10)
        with app.app_context():
            try:
                service.create_case(db.session, actor=None, title="并发删除", category="other", risk_grade="blue",
                                    source="hotline", origin_unit_id=scratch_district.microgrid,
                                    parties=[{"role": "applicant", "name": "张三", "home_unit_id": home_id}])
                db.session.commit()
                outcomes["case"] = "done"
            except Exception as error:  # noqa: BLE001 — judged below
                db.session.rollback()
                outcomes["case"] = repr(error)
            finally:
                logged.set()

    run_threads(lambda work: work(None), [delete, log_case])

    assert outcomes["delete"] == "done" or outcomes["case"] == "done", outcomes
    with app.app_context():
        homes = db.session.scalars(sa.select(Party.home_unit_id).join(Case).where(
            Case.district_id == scratch_district.district)).all()
        unit_left = db.session.get(Unit, home_id) is not None
    assert homes == ([home_id] if outcomes["case"] == "done" else []), outcomes
    assert unit_left is (outcomes["case"] == "done")


def _read_then_lose(app, case_id, action, params):
    """A request that read the case at version 1, then lost the race: by the time it writes, another
    request has accepted the case and committed (under PostgreSQL's READ COMMITTED nothing holds the
    row between a request's read and its write; the interleaving is forced here, so it runs the same
    on SQLite)."""
    with app.app_context():
        seen = service.get_case(db.session, case_id=case_id)
        db.session.commit()  # the read holds no lock; the row stays loaded at version 1
        with app.app_context():  # another request, another session
            other = service.get_case(db.session, case_id=case_id)
            service.act(db.session, case=other, action="accept", actor=None, version=1, params={})
            db.session.commit()
        try:
            service.act(db.session, case=seen, action=action, actor=None, version=1, params=params)
        finally:
            db.session.rollback()


def _logged(app, scratch_district) -> int:
    with app.app_context():
        case, _ = service.create_case(db.session, actor=None, title="竞争", category="family_neighbour",
                                      risk_grade="blue", source="hotline", origin_unit_id=scratch_district.microgrid)
        db.session.commit()
        return case.id


def test_a_write_that_lost_the_race_is_a_conflict(app, scratch_district):
    case_id = _logged(app, scratch_district)
    with pytest.raises(Conflict):
        _read_then_lose(app, case_id, "reject", {"reason": "duplicate"})
    with app.app_context():
        row = db.session.get(Case, case_id)
        assert (row.status, row.version) == (Status.ACCEPTED, 2)
        assert [event.action for event in service.events(db.session, case=row)] == ["create", "accept"]


def test_an_escalation_with_a_regrade_that_lost_the_race_is_a_conflict(app, scratch_district):
    from sqlalchemy.orm.exc import StaleDataError

    case_id = _logged(app, scratch_district)
    with app.app_context():
        row = service.get_case(db.session, case_id=case_id)
        service.act(db.session, case=row, action="accept", actor=None, version=1, params={})
        db.session.commit()
        version = row.version
    with app.app_context():
        seen = service.get_case(db.session, case_id=case_id)
        db.session.commit()  # the read holds no lock; the row stays loaded at this version
        with app.app_context():  # another request records an attempt and commits first
            other = service.get_case(db.session, case_id=case_id)
            service.act(db.session, case=other, action="record_attempt", actor=None, version=version,
                        params={"outcome": Outcome.PARTIAL})
            db.session.commit()
        try:
            service.act(db.session, case=seen, action="escalate", actor=None, version=version,
                        params={"reason": "beyond_authority", "risk_grade": "red"})
        except Conflict:
            pass
        except StaleDataError as error:
            raise AssertionError(f"answered as a server error: {error!r}") from None
        else:
            raise AssertionError("the stale escalation was applied")
        finally:
            db.session.rollback()
    with app.app_context():
        row = db.session.get(Case, case_id)
        assert (row.status, row.risk_grade, row.owner_level) == (Status.IN_PROGRESS, "blue", "grid")


def test_one_file_sent_twice_at_once_is_kept_once(app, scratch_district, monkeypatch, tmp_path):
    """A phone's retry racing its first upload. Before, on PostgreSQL both passed the look for the
    same file under a shared lock, and the case kept two, three or four copies."""
    import io

    from werkzeug.datastructures import FileStorage

    from gridgov.cases import attachments
    from gridgov.cases.models import Attachment
    from tests.cases.test_attachments import tiny_png

    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(tmp_path / "files"))
    case_id = _logged(app, scratch_district)
    workers = 4
    arrived = threading.Barrier(workers)
    original = service.hold_as_it_is

    def wait_then_hold(*args, **kwargs):
        arrived.wait(timeout=10)  # every upload reaches the lock at once
        return original(*args, **kwargs)

    monkeypatch.setattr(service, "hold_as_it_is", wait_then_hold)
    results, failures = [], []

    def work(_n):
        with app.app_context():
            try:
                case = service.get_case(db.session, case_id=case_id)
                upload = FileStorage(stream=io.BytesIO(tiny_png()), filename="现场.png", content_type="image/png")
                attachment, added = attachments.add(db.session, case=case, actor=None, upload=upload)
                if added:
                    attachments.commit(db.session, attachment)
                results.append((attachment.id, added))
            except Exception as error:  # noqa: BLE001 — reported below
                failures.append(repr(error))
            finally:
                db.session.rollback()

    run_threads(work, range(workers))

    assert failures == []
    assert len({attachment_id for attachment_id, _ in results}) == 1
    assert [added for _, added in results].count(True) == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)
                                 .where(Attachment.case_id == case_id)) == 1
    assert len(list((tmp_path / "files").iterdir())) == 1
