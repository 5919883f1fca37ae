"""Photos and documents on a case, stored as files in ``ATTACHMENT_DIR``.

The type is read from the content (magic bytes), never from the name or the declared type:
only images and PDF are kept.
"""

import contextlib
import hashlib
import mimetypes
import unicodedata
import uuid
from pathlib import Path
from urllib.parse import quote

import filetype
import sqlalchemy as sa
from flask import current_app, send_file

from gridgov.cases import service
from gridgov.cases.models import Attachment
from gridgov.db import utcnow
from gridgov.errors import Gone, InvalidInput, NotFound, RuleViolation, Unavailable

# HEIC: what an iPhone's camera takes by default.
ALLOWED = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "application/pdf"}
MAX_BYTES = 10 * 1024 * 1024


def directory() -> Path:
    configured = current_app.config.get("ATTACHMENT_DIR")
    # A relative folder is read inside the instance folder, as a relative SQLite path is: from
    # wherever the server happened to be started, every stored file would answer 410.
    return Path(current_app.instance_path) / (configured or "attachments")


def add(session, *, case, actor, upload) -> tuple[Attachment, bool]:
    """The attachment, and whether it was added now (False: the same file was already on the
    case, and is answered instead: a phone that lost the answer sends the photo again)."""
    service.check_may_attach(case, actor)
    if upload is None:
        raise InvalidInput("Send the file as the multipart field `file`.", errors={"file": ["required"]})
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RuleViolation("An attachment may be 10 MB at most.", errors={"file": ["larger than 10 MB"]})
    if not data:
        raise RuleViolation("The file is empty.", errors={"file": ["empty"]})
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ALLOWED:
        raise RuleViolation(
            "Only photos (JPEG, PNG, WebP, GIF, HEIC) and PDF documents are accepted, judged by their content.",
            errors={"file": [f"content is {kind.mime if kind else 'not a known type'}"]},
        )
    # As the case is now, held against actions and against a copy of this file sent at once.
    service.check_may_attach(service.hold_as_it_is(session, case, alone=True), actor)
    sha256 = hashlib.sha256(data).hexdigest()
    kept = session.scalar(sa.select(Attachment).where(Attachment.case_id == case.id, Attachment.sha256 == sha256))
    folder = directory()
    if kept is not None:
        if not (folder / kept.storage_name).is_file():  # lost from the disk: sent again, kept again
            _store(folder, kept.storage_name, data)
        return kept, False
    storage_name = f"{uuid.uuid4().hex}.{kind.extension}"
    name = _display_name(upload.filename, extension=kind.extension, mime=kind.mime)
    attachment = Attachment(
        case_id=case.id,
        filename=name,
        content_type=kind.mime,
        size=len(data),
        sha256=sha256,
        storage_name=storage_name,
        uploaded_by_id=actor.id if actor else None,
    )
    session.add(attachment)
    session.flush()
    now = utcnow()
    service.record_note(session, case=case, actor=actor, action="attach", now=now, reason=name,
                        details={"attachment_id": attachment.id, "content_type": kind.mime, "size": len(data)})
    service.touch(session, case, now=now)
    # Last, when all the database would refuse has been asked of it; ``commit`` takes it back if
    # the commit fails.
    _store(folder, storage_name, data)
    return attachment, True


def _store(folder: Path, name: str, data: bytes) -> None:
    """Write the file whole under ``name``, or leave nothing: a disk that fills up halfway kept
    the part written, and stayed full for every upload after."""
    part = folder / f"{name}.part"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # residents' photos: for the service's own user
        part.write_bytes(data)
        part.replace(folder / name)
    except OSError as error:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        current_app.logger.error("attachment not stored in %s: %s", folder, error)
        raise Unavailable("The file could not be stored (the server's storage is full or cannot be written); "
                          "nothing was kept. Try again later.") from error


def commit(session, attachment: Attachment) -> None:
    """Commit ``add``'s rows, or, if the database refuses them (a deadlock), let go of the file
    too: the answer says nothing was kept. A connection lost at the commit keeps it: the rows may
    have been committed, and would name a file that is gone."""
    try:
        session.commit()
    except BaseException as error:
        if not getattr(error, "connection_invalidated", False):
            (directory() / attachment.storage_name).unlink(missing_ok=True)
        raise


def _display_name(filename: str | None, *, extension: str, mime: str) -> str:
    """The name a phone gave the file, fit to store and to send back in a header (no folders,
    no control characters or lone surrogates, at most 200 characters), ending as its content
    is: a PDF named "证据.html" is downloaded as "证据.pdf", never opened as a page or run."""
    name = "".join(char for char in Path(filename or "").name if char.isprintable())
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem.strip(" .") or "attachment"
    if mimetypes.guess_type(f"x.{suffix}")[0] != mime:  # "照片.JPEG" stays as it is
        suffix = extension
    return f"{stem[:199 - len(suffix)]}.{suffix}"


def send(*, case, attachment_id: int):
    attachment = next((item for item in case.attachments if item.id == attachment_id), None)
    if attachment is None:
        raise NotFound(f"Case {case.reference} has no attachment {attachment_id}.")
    stored = directory() / attachment.storage_name
    if not stored.is_file():  # lost from the disk (a restore without the files): say so, not 500
        current_app.logger.error("attachment %s of case %s: file %s is missing", attachment.id, case.reference, stored)
        raise Gone(f"The file of attachment {attachment_id} is no longer kept.")
    response = send_file(stored, mimetype=attachment.content_type)
    response.headers["Content-Disposition"] = _disposition(attachment)
    # What a resident's case holds: never guessed into another type, run as a page, or kept
    # by a shared cache.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _disposition(attachment: Attachment) -> str:
    """A photo shown inline, a PDF downloaded, under its own name (RFC 6266's ``filename*``) and an
    ASCII one for clients that read only ``filename``: not Werkzeug's, which drops every Chinese
    character and names "证据.pdf" ".pdf", a hidden file, as it names every other Chinese one."""
    kind = "attachment" if attachment.content_type == "application/pdf" else "inline"
    stem, _, suffix = attachment.filename.rpartition(".")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = "".join(char for char in ascii_stem if char.isalnum() or char in " -_.()").strip(" .")
    fallback = f"{ascii_stem or f'attachment-{attachment.id}'}.{suffix}"
    # RFC 5987's attr-char: what may stand unescaped in ``filename*``.
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(attachment.filename, safe='!#$&+-.^_`|~')}"
