"""Photos and documents on a case: judged by their content, 10 MB at most, given back unchanged."""

import errno
import hashlib
import io
import shutil
import struct
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from gridgov.cases import attachments
from tests.cases.support import CASES, M111, T1, act, assert_problem, get, log, timeline


def tiny_png(rgb: bytes = b"\xff\x00\x00") -> bytes:
    """A real 1×1 PNG, red unless ``rgb`` says otherwise."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + rgb)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def tiny_pdf() -> bytes:
    """A one-page PDF (调解协议书)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


BLUE = b"\x00\x00\xff"


def upload(client, case_id, data: bytes, filename: str):
    return client.post(
        f"{CASES}/{case_id}/attachments",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


@pytest.fixture(autouse=True)
def attachment_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(tmp_path / "files"))
    return tmp_path / "files"


@pytest.fixture
def case(actors, ids):
    return log(actors.grid.client, ids[M111])


def test_a_photo_and_a_signed_agreement_are_kept_and_listed(actors, case, attachment_dir):
    png, pdf = tiny_png(), tiny_pdf()
    photo = upload(actors.grid.client, case["id"], png, "现场照片.png")
    agreement = upload(actors.village.client, case["id"], pdf, "调解协议书.pdf")
    assert photo.status_code == 201, photo.get_data(as_text=True)
    assert agreement.status_code == 201, agreement.get_data(as_text=True)
    photo, agreement = photo.get_json(), agreement.get_json()
    assert (photo["filename"], photo["content_type"], photo["size"]) == ("现场照片.png", "image/png", len(png))
    assert photo["sha256"] == hashlib.sha256(png).hexdigest()
    assert (agreement["filename"], agreement["content_type"]) == ("调解协议书.pdf", "application/pdf")

    seen = get(actors.village.client, case["id"])
    assert [item["id"] for item in seen["attachments"]] == [photo["id"], agreement["id"]]
    # An app that refreshes the cases whose updated_at moved sees the files; the version stays,
    # so that no one's action in hand turns stale for a photo.
    assert seen["updated_at"] > case["updated_at"] and seen["version"] == case["version"]
    events = [event for event in timeline(actors.village.client, case["id"]) if event["action"] == "attach"]
    assert [(event["reason"], event["details"]["attachment_id"]) for event in events] == [
        ("现场照片.png", photo["id"]), ("调解协议书.pdf", agreement["id"]),
    ]
    assert len(list(attachment_dir.iterdir())) == 2


def test_a_download_gives_back_the_same_bytes(actors, case):
    png, pdf = tiny_png(), tiny_pdf()
    photo = upload(actors.grid.client, case["id"], png, "photo.png").get_json()
    agreement = upload(actors.grid.client, case["id"], pdf, "agreement.pdf").get_json()

    response = actors.village.client.get(f"{CASES}/{case['id']}/attachments/{photo['id']}")
    assert response.status_code == 200
    assert response.data == png
    assert response.mimetype == "image/png"

    response = actors.district.client.get(f"{CASES}/{case['id']}/attachments/{agreement['id']}")
    assert response.status_code == 200
    assert response.data == pdf
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]


def test_an_attachment_is_found_only_through_its_own_case(actors, ids, case):
    photo = upload(actors.grid.client, case["id"], tiny_png(), "photo.png").get_json()
    other = log(actors.grid.client, ids[M111])
    assert_problem(actors.grid.client.get(f"{CASES}/{other['id']}/attachments/{photo['id']}"), 404)
    assert_problem(actors.far_village.client.get(f"{CASES}/{case['id']}/attachments/{photo['id']}"), 404)


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"this is only text, whatever its name says\n", "photo.jpg"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "drawing.png"),
        (b"PK\x03\x04" + b"\x00" * 100, "agreement.pdf"),  # a zip
        (b"MZ\x90\x00" + b"\x00" * 100, "photo.jpeg"),  # a Windows program
    ],
)
def test_a_file_that_is_not_an_image_or_pdf_by_content_is_refused(actors, case, data, filename, attachment_dir):
    problem = assert_problem(upload(actors.grid.client, case["id"], data, filename), 422)
    assert "file" in problem["errors"]
    assert get(actors.grid.client, case["id"])["attachments"] == []
    assert not attachment_dir.exists() or list(attachment_dir.iterdir()) == []


def test_an_empty_file_and_a_missing_one_are_refused(actors, case):
    assert_problem(upload(actors.grid.client, case["id"], b"", "empty.png"), 422)
    problem = assert_problem(actors.grid.client.post(f"{CASES}/{case['id']}/attachments", data={},
                                                     content_type="multipart/form-data"), 400)
    assert "file" in problem["errors"]
    assert get(actors.grid.client, case["id"])["attachments"] == []


@pytest.mark.parametrize("second_field", ["file", "photo"])
def test_several_files_in_one_request_are_refused_not_partly_kept(actors, case, attachment_dir, second_field):
    """Before, the first was kept and the others dropped, with a 201 (and a file under another
    name than "file" was dropped even after that was fixed for two under "file")."""
    first, second = (io.BytesIO(tiny_png()), "1.png"), (io.BytesIO(tiny_pdf()), "协议书.pdf")
    data = {"file": [first, second]} if second_field == "file" else {"file": first, second_field: second}
    response = actors.grid.client.post(f"{CASES}/{case['id']}/attachments", data=data,
                                       content_type="multipart/form-data")

    assert assert_problem(response, 400)["errors"] == {"file": ["one file per request"]}
    assert get(actors.grid.client, case["id"])["attachments"] == []
    assert not attachment_dir.exists() or list(attachment_dir.iterdir()) == []


class _Deadlock(Exception):
    sqlstate = "40P01"  # PostgreSQL's


DEADLOCK = sa.exc.OperationalError("INSERT", {}, _Deadlock("deadlock detected"))
LOST = sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"), connection_invalidated=True)


@pytest.mark.parametrize(("where", "error", "status"), [("event", DEADLOCK, 409), ("event", LOST, 503),
                                                        ("commit", DEADLOCK, 409)])
def test_a_file_the_database_refused_to_record_is_not_kept(actors, case, attachment_dir, monkeypatch,
                                                           where, error, status):
    """The database refuses the attachment's rows (its event deadlocked with a move of the case's
    unit): the answer says nothing was kept, and nothing is. Before, the file had been written
    first and stayed on the disk."""
    def refuse(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(attachments.service if where == "event" else sa.orm.Session,
                        "record_note" if where == "event" else "commit", refuse)
    response = upload(actors.grid.client, case["id"], tiny_png(), "现场.png")
    monkeypatch.undo()

    assert_problem(response, status)
    assert get(actors.grid.client, case["id"])["attachments"] == []
    assert not attachment_dir.exists() or list(attachment_dir.iterdir()) == []


def test_a_file_whose_commit_lost_the_connection_is_kept(actors, case, attachment_dir, monkeypatch):
    """The connection was lost at the commit: the rows may be there (the answer says "may or may
    not have been made"), so the file stays; a row naming a deleted file would answer 410."""
    def lost(*_args, **_kwargs):
        raise LOST

    monkeypatch.setattr(sa.orm.Session, "commit", lost)
    response = upload(actors.grid.client, case["id"], tiny_png(), "现场.png")
    monkeypatch.undo()

    assert "may or may not have been made" in assert_problem(response, 503)["detail"]
    assert len(list(attachment_dir.iterdir())) == 1


def test_a_relative_attachment_folder_lies_in_the_instance_folder(app, actors, case, monkeypatch, tmp_path):
    """Before, it was read from the server's working directory: started from another one, every
    stored file answered 410."""
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", "relative-files")
    monkeypatch.chdir(tmp_path)
    inside = Path(app.instance_path) / "relative-files"
    try:
        assert upload(actors.grid.client, case["id"], tiny_png(), "现场.png").status_code == 201

        assert len(list(inside.iterdir())) == 1
        assert not (tmp_path / "relative-files").exists()
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def test_more_than_10_mb_is_refused(app, actors, case):
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024  # the body limit lets 10 MB + 1 through
    big = tiny_png() + b"\x00" * (attachments.MAX_BYTES + 1 - len(tiny_png()))
    problem = assert_problem(upload(actors.grid.client, case["id"], big, "huge.png"), 422)
    assert "10 MB" in problem["detail"]
    exactly = tiny_png() + b"\x00" * (attachments.MAX_BYTES - len(tiny_png()))
    assert upload(actors.grid.client, case["id"], exactly, "just-fits.png").status_code == 201


def test_a_body_over_the_request_limit_is_413(actors, case):
    huge = tiny_png() + b"\x00" * (16 * 1024 * 1024)
    problem = assert_problem(upload(actors.grid.client, case["id"], huge, "huge.png"), 413)
    assert "larger than the 16 MiB" in problem["detail"]  # the limit is said, as GRIDGOV_MAX_CONTENT_LENGTH sets it
    # A small body whose text field is too large for a form is refused too, not blamed on its size.
    small = actors.grid.client.post(f"{CASES}/{case['id']}/attachments", content_type="multipart/form-data",
                                    data={"file": (io.BytesIO(tiny_png()), "a.png"), "note": "长" * 200_000})
    assert "16 MiB" not in assert_problem(small, 413)["detail"]


def test_who_may_attach(client, actors, case):
    # attaching needs cases:attempt: the handlers and the grid worker may; an admin may not
    assert upload(actors.town.client, case["id"], tiny_png(), "p.png").status_code == 201
    assert_problem(upload(client, case["id"], tiny_png(), "p.png"), 403)
    assert_problem(upload(actors.far_village.client, case["id"], tiny_png(), "p.png"), 404)


def test_an_iphone_photo_in_heic_is_kept(actors, case):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200
    photo = upload(actors.grid.client, case["id"], heic, "IMG_0001.HEIC")
    assert photo.status_code == 201, photo.get_data(as_text=True)
    assert photo.get_json()["content_type"] == "image/heic"


@pytest.mark.parametrize(("data", "given", "kept"), [
    (tiny_pdf()[:9] + b"<html><script>alert(1)</script></html>", "证据材料.html", "证据材料.pdf"),
    (tiny_pdf(), "evidence.bat", "evidence.pdf"),
    (tiny_png(), "现场.html", "现场.png"),
    (tiny_png(), "现场.PNG", "现场.PNG"),
    (tiny_pdf(), "调解协议书", "调解协议书.pdf"),
])
def test_a_file_is_named_for_what_it_holds_and_served_so_that_nothing_runs(actors, case, data, given, kept):
    """Before, a PDF named "证据材料.html" was downloaded under that name, and a browser opened it
    as a page."""
    stored = upload(actors.grid.client, case["id"], data, given)
    assert stored.status_code == 201, stored.get_data(as_text=True)
    assert stored.get_json()["filename"] == kept

    download = actors.village.client.get(f"{CASES}/{case['id']}/attachments/{stored.get_json()['id']}")
    assert download.status_code == 200 and download.data == data
    assert quote(kept) in download.headers["Content-Disposition"] or kept in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    assert "no-store" in download.headers["Cache-Control"]


@pytest.mark.parametrize(("given", "kept"), [
    ("现场\x00照片\x1b.png", "现场照片.png"),
    ("../../etc/passwd.png", "passwd.png"),
    ("\x07\x08", "attachment.png"),
    ("名" * 300 + ".png", "名" * 196 + ".png"),
])
def test_a_filename_is_kept_without_folders_or_control_characters(actors, case, given, kept):
    response = upload(actors.grid.client, case["id"], tiny_png(), given)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["filename"] == kept
    download = actors.grid.client.get(f"{CASES}/{case['id']}/attachments/{response.get_json()['id']}")
    assert download.status_code == 200 and download.data == tiny_png()


def test_once_another_unit_handles_the_case_its_people_the_assignee_and_the_logger_attach(actors, ids):
    """Before, anyone who could read the case attached to it: the village to a case the town now
    handles. The grid worker who logged it still adds the photos of the scene."""
    case = log(actors.grid.client, ids[M111], risk_grade="red")  # red: the town's
    assert case["owner_unit_id"] == ids[T1]
    assert_problem(upload(actors.village.client, case["id"], tiny_png(), "a.png"), 403)
    assert upload(actors.grid.client, case["id"], tiny_png(), "现场.png").status_code == 201
    assert upload(actors.town.client, case["id"], tiny_png(BLUE), "a.png").status_code == 201

    other = log(actors.town.client, ids[M111], risk_grade="red")  # logged by the town
    assert_problem(upload(actors.grid.client, other["id"], tiny_png(), "b.png"), 403)
    accepted = act(actors.town.client, other, "accept")
    act(actors.town.client, accepted, "assign", assignee_id=actors.grid.id)
    assert upload(actors.grid.client, other["id"], tiny_png(), "b.png").status_code == 201
    assert [item["filename"] for item in get(actors.town.client, case["id"])["attachments"]] == ["现场.png", "a.png"]


def test_a_rejected_case_takes_no_attachments(actors, case, attachment_dir):
    rejected = act(actors.village.client, case, "reject", reason="duplicate")
    assert_problem(upload(actors.village.client, rejected["id"], tiny_png(), "a.png"), 409)
    assert not attachment_dir.exists() or list(attachment_dir.iterdir()) == []


def test_a_file_lost_from_the_disk_answers_410_not_500(actors, case, attachment_dir):
    photo = upload(actors.grid.client, case["id"], tiny_png(), "photo.png").get_json()
    for stored in attachment_dir.iterdir():
        stored.unlink()
    problem = assert_problem(actors.village.client.get(f"{CASES}/{case['id']}/attachments/{photo['id']}"), 410)
    assert str(photo["id"]) in problem["detail"]

    # Sent again, it is kept again (before, "already on the case" answered, and it stayed lost).
    again = upload(actors.grid.client, case["id"], tiny_png(), "photo.png")
    assert again.status_code == 200 and again.get_json()["id"] == photo["id"]
    download = actors.village.client.get(f"{CASES}/{case['id']}/attachments/{photo['id']}")
    assert download.status_code == 200 and download.data == tiny_png()


def test_a_file_sent_again_is_kept_once(actors, case, attachment_dir):
    """A phone that lost the answer sends the photo again. Before, the case got it twice: two
    attachments, two files, two events in its timeline."""
    first = upload(actors.grid.client, case["id"], tiny_png(), "现场.png")
    again = upload(actors.grid.client, case["id"], tiny_png(), "现场.png")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()

    other = upload(actors.grid.client, case["id"], tiny_png(BLUE), "现场.png")
    assert other.status_code == 201
    assert [item["id"] for item in get(actors.grid.client, case["id"])["attachments"]] == [
        first.get_json()["id"], other.get_json()["id"]]
    assert len([event for event in timeline(actors.grid.client, case["id"]) if event["action"] == "attach"]) == 2
    assert len(list(attachment_dir.iterdir())) == 2
    # on another case the same photo is that case's own
    second_case = log(actors.grid.client, case["origin_unit_id"])
    assert upload(actors.grid.client, second_case["id"], tiny_png(), "现场.png").status_code == 201


def test_a_disk_that_fills_up_mid_write_keeps_nothing(actors, case, attachment_dir, monkeypatch):
    """Before, the part written stayed on the (full) disk, never removed, and the answer was a
    bare 500."""
    real_write = Path.write_bytes

    def disk_full(path, data):
        real_write(path, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    response = upload(actors.grid.client, case["id"], tiny_png(), "现场.png")
    monkeypatch.undo()

    assert "nothing was kept" in assert_problem(response, 503)["detail"]
    assert get(actors.grid.client, case["id"])["attachments"] == []
    assert list(attachment_dir.iterdir()) == []
    assert upload(actors.grid.client, case["id"], tiny_png(), "现场.png").status_code == 201


def test_a_storage_folder_that_cannot_be_made_answers_503_and_410(app, actors, case, tmp_path, monkeypatch):
    """The folder cannot be made (its parent is a file, or read-only): an upload says the storage
    is out of order, a download that the file is not kept. Before, both answered 500: even a
    download tried to make the folder."""
    photo = upload(actors.grid.client, case["id"], tiny_png(), "现场.png").get_json()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(blocker / "files"))

    assert_problem(upload(actors.grid.client, case["id"], tiny_png(BLUE), "b.png"), 503)
    assert_problem(actors.grid.client.get(f"{CASES}/{case['id']}/attachments/{photo['id']}"), 410)
    assert [item["id"] for item in get(actors.grid.client, case["id"])["attachments"]] == [photo["id"]]


@pytest.mark.parametrize(("name", "kind", "fallback"), [
    ("证据.pdf", "attachment", "attachment-{id}.pdf"),
    ("现场照片.png", "inline", "attachment-{id}.png"),
    ("IMG_0001 现场.png", "inline", "IMG_0001.png"),
    ("Café.png", "inline", "Cafe.png"),
])
def test_a_chinese_name_downloads_under_a_name_every_client_can_keep(actors, case, name, kind, fallback):
    """Clients that read only ``filename`` (curl -OJ, older download managers) saved "证据.pdf"
    as ".pdf": a hidden file, and every Chinese-named PDF under that one name."""
    data = tiny_pdf() if name.endswith(".pdf") else tiny_png()
    stored = upload(actors.grid.client, case["id"], data, name).get_json()
    download = actors.village.client.get(f"{CASES}/{case['id']}/attachments/{stored['id']}")
    assert download.status_code == 200 and download.data == data
    disposition = download.headers["Content-Disposition"]
    assert disposition == (f'{kind}; filename="{fallback.format(id=stored["id"])}"; '
                           f"filename*=UTF-8''{quote(name)}")
