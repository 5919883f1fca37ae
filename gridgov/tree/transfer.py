"""Import and export of unit tables in the form of the national division code tables.

Columns ``code,name,level,parent_code``, optionally followed by ``households,population,latitude,
longitude``. An import is an upsert by code, all or nothing: every problem is collected with its
line number first, and nothing is written unless there are none.
"""

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from gridgov.api import code_cell, inert_cell, read_cell, unstorable
from gridgov.auth import audit
from gridgov.auth.scope import UNSCOPED
from gridgov.errors import InvalidInput, RuleViolation, UnsupportedMediaType
from gridgov.tree import paths, service
from gridgov.tree.levels import Level, code_problem, parent_problem, typed_code
from gridgov.tree.models import Unit, in_subtree

REQUIRED_COLUMNS = ("code", "name", "level", "parent_code")
OPTIONAL_COLUMNS = ("households", "population", "latitude", "longitude")
# Whether a unit is in use: an import creates a unit retired as the file says (a district moved to
# another database keeps its retired units retired), but retires or brings back no existing one:
# that goes through PATCH /units/{id}, which hands their cases on.
ACTIVE = "active"
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS + (ACTIVE,)
MAY_HAVE = COLUMNS[len(REQUIRED_COLUMNS):]
HEADER = f"{','.join(REQUIRED_COLUMNS)}[,{','.join(MAY_HAVE)}]"  # for people: what a file's first line names
FLAGS = {"true": True, "false": False}
CODES = ("code", "parent_code")  # digits a spreadsheet must keep as text (api.code_cell)
MAX_REPORTED_ERRORS = 200
CHUNK = 500


@dataclass
class Row:
    line: int
    code: str
    name: str
    level: Level
    parent_code: str | None
    households: int | None = None
    population: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    active: bool | None = None  # None: the file does not say (a new unit is in use)

    def fields(self, columns=OPTIONAL_COLUMNS) -> dict:
        """The name and the optional figures the file gave (a column it lacks is left alone)."""
        return {name: getattr(self, name) for name in ("name", *columns)}


class _Errors:
    """Problems by line, as the problem document's ``errors`` member: ``{"line 3": [...]}``, in
    the file's order (the parser's and the tree's problems arrive separately), the first
    ``MAX_REPORTED_ERRORS`` lines of them."""

    def __init__(self):
        self.by_line: dict[int, list[str]] = defaultdict(list)
        self.count = 0
        # Codes of lines that did not parse: their children's parent is in the file after all.
        self.flawed_codes: set[str] = set()
        self.left_out = False  # lines with problems beyond the first MAX_REPORTED_ERRORS

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.by_line) >= MAX_REPORTED_ERRORS and line not in self.by_line and line > max(self.by_line):
            self.left_out = True
            return
        self.by_line[line].append(message)
        if len(self.by_line) > 2 * MAX_REPORTED_ERRORS:  # a bad million-line file: keep what is reported
            for dropped in sorted(self.by_line)[MAX_REPORTED_ERRORS:]:
                del self.by_line[dropped]
            self.left_out = True

    def raise_if_any(self) -> None:
        if self.count:
            lines = sorted(self.by_line)
            listed = lines[:MAX_REPORTED_ERRORS]
            more = f" (the first {MAX_REPORTED_ERRORS} lines are listed)" if self.left_out or len(lines) > len(listed) else ""
            raise RuleViolation(
                f"The file was not imported: {self.count} problem(s){more}. Nothing was changed.",
                errors={f"line {line}": self.by_line[line] for line in listed},
            )


@dataclass
class Table:
    """A parsed file: the rows that parsed, the optional columns it has, and the problems of
    the lines that did not (reported together with the tree's problems by ``import_units``)."""

    rows: list[Row]
    columns: tuple[str, ...]
    problems: _Errors


# What a file may say it is in: UTF-8 (ASCII is UTF-8), or the Windows code page of Chinese
# Windows (GBK, cp936), in which Excel saves "CSV (逗号分隔)"; GB18030 reads GBK and GB2312 alike.
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "ascii": "utf-8", "us-ascii": "utf-8",
             "gbk": "gb18030", "cp936": "gb18030", "gb2312": "gb18030", "gb18030": "gb18030"}
BOM = b"\xef\xbb\xbf"


def _decoded(data: bytes, codec: str) -> str:
    """The file's text. UTF-8 wins whatever was said: a byte-order mark says so, and text in GBK
    is next to never valid UTF-8, where UTF-8 read as GB18030 often "decodes" into nonsense
    (江阳城区 → 姹熼槼鍩庡尯) that would be stored as names."""
    if data.startswith(BOM):
        codec, data = "utf-8", data[len(BOM):]
    elif codec != "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        hint = ("A file Excel saved as “CSV (逗号分隔)” on Chinese Windows is GBK: save it as “CSV UTF-8 (逗号分隔)”, "
                "or say it is GBK (charset=gbk in the Content-Type; --encoding gbk on the command line)."
                if codec == "utf-8" else "Save it as “CSV UTF-8 (逗号分隔)”.")
        name = "UTF-8" if codec == "utf-8" else "UTF-8 or GBK"
        raise InvalidInput(f"The file is not {name} text. {hint}",
                           errors={f"line {line}": [f"not valid {name}"]}) from None


def parse_csv(data: bytes, *, encoding: str = "utf-8") -> Table:
    """The rows of a unit table; UTF-8 with or without a byte-order mark, or ``encoding``.

    A file that is not a table at all raises ``InvalidInput``; problems of single lines are
    collected in the answer so that they are reported with every other problem at once.
    """
    if encoding.lower() not in ENCODINGS:
        raise UnsupportedMediaType(f"The file's encoding {encoding} is not one read here: UTF-8 or GBK (GB18030).")
    text = _decoded(data, ENCODINGS[encoding.lower()])
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InvalidInput("The file contains NUL characters; it is not a CSV table.",
                           errors={f"line {line}": ["a NUL character"]})

    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
        # Columns with no name and nothing in them, as a spreadsheet writes for a column that was
        # only ever formatted: "code,name,level,parent_code,,".
        while header and header[-1] == "":
            header.pop()
    except StopIteration:
        raise InvalidInput("The file is empty.") from None
    except csv.Error as exc:
        raise InvalidInput(f"Line 1 is not CSV: {exc}.") from None
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        raise InvalidInput(
            "The header must name the columns " + ",".join(REQUIRED_COLUMNS)
            + " (optionally " + ",".join(MAY_HAVE) + "), each once.",
            errors={"line 1": [f"missing {missing}" if missing else f"unexpected {unknown or header}"]},
        )

    errors = _Errors()
    rows: list[Row] = []
    first_line_of: dict[str, int] = {}
    line = 1
    while True:
        line = reader.line_num + 1  # where the record starts: a quoted field may span lines
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.add(line, f"not CSV: {exc}")
            break
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(header) and not any(cell.strip() for cell in record[len(header):]):
            record = record[:len(header)]
        if len(record) != len(header):
            # A quote opened and never closed takes the lines after it, records and all, into one field.
            unclosed = ("; a quote opened on this line seems not to be closed"
                        if any("," in cell.partition("\n")[2] for cell in record) else "")
            errors.add(line, f"{len(record)} fields where the header has {len(header)}{unclosed}")
            continue
        values = dict(zip(header, (cell.strip() for cell in record)))
        row = _parse_record(values, line, errors)
        code = row.code if row is not None else values["code"]
        if code in first_line_of:
            errors.add(line, f"code {code} appears already on line {first_line_of[code]}")
            continue
        if code:
            first_line_of[code] = line
        if row is None:
            errors.flawed_codes.add(code)
            continue
        rows.append(row)
    if not rows and not errors.count:
        raise InvalidInput("The file has a header but no units.")
    return Table(rows, tuple(column for column in OPTIONAL_COLUMNS if column in header), errors)


# What the export writes (Python's repr of a float: "28.773395678901235", "1e-05") reads back.
NUMBER = {
    int: re.compile(r"[0-9]{1,12}", re.ASCII),
    float: re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,20})?(?:e-?[0-9]{1,3})?", re.ASCII | re.IGNORECASE),
}


def _parse_record(values: dict, line: int, errors: _Errors) -> Row | None:
    ok = True
    try:
        level = Level(values["level"].lower())
    except ValueError:
        errors.add(line, f"level {values['level']!r} is not one of {', '.join(Level)}")
        return None
    code = typed_code(values["code"])
    if problem := code_problem(code, level):
        errors.add(line, f"code {code!r}: {problem}")
        ok = False
    name = read_cell(values["name"])
    if not 1 <= len(name) <= 100 or unstorable(name, single_line=True):
        errors.add(line, "name must be 1 to 100 printable characters on one line")
        ok = False
    parent_code = typed_code(values["parent_code"]) or None
    if parent_code is not None and not (parent_code.isascii() and parent_code.isdigit() and len(parent_code) <= 32):
        errors.add(line, f"parent_code {parent_code!r} is not a division code")
        ok = False
    elif parent_code is None and level is not Level.DISTRICT:
        errors.add(line, f"a {level} needs a parent_code")
        ok = False

    active = FLAGS.get(values[ACTIVE].lower()) if values.get(ACTIVE) else None
    if values.get(ACTIVE) and active is None:
        errors.add(line, f"{ACTIVE} {values[ACTIVE]!r} is not true or false")
        ok = False

    numbers = {}
    for column, kind, low, high in (
        ("households", int, 0, 10_000_000),
        ("population", int, 0, 100_000_000),
        ("latitude", float, -90, 90),
        ("longitude", float, -180, 180),
    ):
        raw = values.get(column) or ""
        if not raw:
            numbers[column] = None
            continue
        # Plain decimal notation only: Python's int() and float() also take "1_000" and "１０".
        number = kind(raw) if NUMBER[kind].fullmatch(raw) else None
        if number is None or not low <= number <= high:
            errors.add(line, f"{column} {raw!r} is not a number from {low} to {high}")
            ok = False
            continue
        numbers[column] = number
    if not ok:
        return None
    return Row(line=line, code=code, name=name, level=level, parent_code=parent_code, active=active, **numbers)


def import_csv(session: Session, *, data: bytes, encoding: str = "utf-8", scope_path: str | None = None,
               progress=None) -> dict:
    table = parse_csv(data, encoding=encoding)
    return import_units(
        session, rows=table.rows, columns=table.columns, problems=table.problems,
        scope_path=scope_path, progress=progress,
    )


def import_units(
    session: Session,
    *,
    rows: list[Row],
    columns: tuple[str, ...] = OPTIONAL_COLUMNS,
    problems: _Errors | None = None,
    scope_path: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Create, update and move units so the database holds what ``rows`` say.

    Runs in the caller's transaction; raises ``RuleViolation`` (listing every bad line, the
    ``problems`` found while parsing included) before writing anything when the rows do not
    form a valid tree together with the database. Optional columns not in ``columns`` are left
    as they are on existing units. With ``scope_path``, every unit and parent named must lie in
    that subtree (a scoped account's import).
    """
    progress = progress or (lambda _n: None)
    in_file = {row.code: row for row in rows}
    wanted_codes = set(in_file) | {
        row.parent_code for row in rows if row.parent_code and row.level is not Level.DISTRICT
    }
    existing = _load_existing(session, wanted_codes)

    errors = problems or _Errors()
    for row in rows:
        current = existing.get(row.code)
        if scope_path is not None:
            if row.level is Level.DISTRICT and current is None:
                errors.add(row.line, "a new district lies outside your scope")
                continue
            # The parent counts only when the row moves there: the top row of the account's own
            # export names a parent above the scope, and leaves it where it is.
            named = (row.code,) if current is not None and current.parent_code == row.parent_code else (row.code, row.parent_code)
            outside = [
                code for code in named
                if code in existing and not paths.is_descendant_or_self(existing[code].unit.path, scope_path)
            ]
            if outside:
                errors.add(row.line, f"unit {outside[0]} lies outside your scope")
                continue
        if current is not None and current.level is not row.level:
            errors.add(row.line, f"unit {row.code} exists as a {current.level}, not a {row.level}")
            continue
        if current is not None and row.active is not None and current.unit.active is not row.active:
            errors.add(row.line, f"unit {row.code} is {'in use' if current.unit.active else 'retired'} here: "
                                 f"{'retire' if current.unit.active else 'bring back'} it with PATCH /units/{{id}}")
            continue
        if current is not None and row.name != current.unit.name and row.name == _saved_as_gbk(current.unit.name):
            errors.add(row.line, f"name {row.name!r} has “?” where {current.unit.name!r} has characters GBK cannot "
                                 "hold: the file was saved as “CSV (逗号分隔)”; save it as “CSV UTF-8 (逗号分隔)”")
            continue
        if row.level is Level.DISTRICT:
            continue
        parent_level = None
        if row.parent_code in in_file:
            parent_level = in_file[row.parent_code].level
        elif row.parent_code in existing:
            parent_level = existing[row.parent_code].level
        elif row.parent_code in errors.flawed_codes:
            continue  # its parent's line is wrong, and says so
        else:
            errors.add(row.line, f"parent_code {row.parent_code} is neither in the file nor in the database")
            continue
        if problem := parent_problem(row.level, parent_level):
            errors.add(row.line, f"{problem} (parent {row.parent_code} is a {parent_level})")
        parent = existing.get(row.parent_code)
        arriving = current is None or current.parent_code != row.parent_code
        # A retired unit takes no new units in use (its matters go to the unit above); retired
        # ones, as an export of its subtree holds them, it may.
        in_use = row.active is not False
        if parent is not None and arriving and in_use and (problem := service.retired_parent(parent.unit)):
            errors.add(row.line, f"parent {problem}")
        elif arriving and in_use and row.parent_code in in_file and in_file[row.parent_code].active is False:
            errors.add(row.line, f"parent {row.parent_code} is retired in the file; a unit in use cannot lie under it")
    errors.raise_if_any()

    counts = Counter(created=0, updated=0, moved=0, unchanged=0)
    moves: list[Row] = []
    _lock_what_changes(session, rows=rows, existing=existing, columns=columns)
    for row in rows:
        current = existing.get(row.code)
        if current is None:
            continue
        if _moves(row, current):
            moves.append(row)
        if changes := _changes(row, current, columns):
            # Set on the objects, written in one flush; the import's one audit event counts them.
            for key, value in changes.items():
                setattr(current.unit, key, value)
            current.unit.version += 1
            counts["updated"] += 1
        elif not moves or moves[-1] is not row:
            counts["unchanged"] += 1
        progress(1)

    new_rows = [row for row in rows if row.code not in existing]
    _insert_new(session, rows=new_rows, existing=existing, progress=progress)
    counts["created"] = len(new_rows)

    for row in sorted(moves, key=lambda r: r.level.rank):
        unit = service.get_unit_by_code(session, code=row.code)
        new_parent = service.get_unit_by_code(session, code=row.parent_code)
        service.move_unit(session, unit=unit, new_parent=new_parent)
        counts["moved"] += 1
    session.flush()
    _record(session, rows=rows, counts=counts)
    return dict(counts)


def _saved_as_gbk(name: str) -> str:
    """``name`` as a spreadsheet saving GBK writes it: "?" for each character GBK has not (𠮷野家
    → ?野家). An edited export coming back so would rename every unit with a rare character."""
    return name.encode("gbk", errors="replace").decode("gbk")


def _moves(row: Row, current: "_Existing") -> bool:
    return row.level is not Level.DISTRICT and current.parent_code != row.parent_code


def _changes(row: Row, current: "_Existing", columns) -> dict:
    """The fields ``row`` gives that differ from the unit's."""
    fields = row.fields(columns)
    if row.level is Level.DISTRICT:
        fields["city_code"] = row.parent_code
    return {key: value for key, value in fields.items() if getattr(current.unit, key) != value}


def _lock_what_changes(session: Session, *, rows: list[Row], existing: dict, columns) -> None:
    """Lock, and read again, every existing unit the import will write: those it changes or
    moves, the parents it moves units to, and the parents of its new units.

    Read again (as ``update_unit`` does for one unit), a PATCH between the first read and the
    commit is neither lost nor overwritten unseen. All in one id order, in chunks, before any
    other lock, as a hand move or a creation takes the same units: the two queue instead of
    deadlocking. (The rows a move's path rewrite updates further down are not locked first; a
    writer that holds one of them and waits for the import may still meet a deadlock, answered
    409.) Units the file leaves as they are stay unlocked: a file that changes nothing holds up
    no one."""
    wanted = set()
    for row in rows:
        current = existing.get(row.code)
        if current is None:
            if row.parent_code in existing and row.level is not Level.DISTRICT:
                wanted.add(existing[row.parent_code].unit)
        elif _moves(row, current):
            wanted.add(current.unit)
            if row.parent_code in existing:
                wanted.add(existing[row.parent_code].unit)
        elif _changes(row, current, columns):
            wanted.add(current.unit)
    ordered = sorted(wanted, key=lambda unit: unit.id)
    for start in range(0, len(ordered), CHUNK):
        service.lock_units(session, units=ordered[start : start + CHUNK])


def _record(session: Session, *, rows: list[Row], counts: Counter) -> None:
    """One audit event per import (a whole district is thousands of rows) and district it
    touched, at the lowest unit there that holds everything it touched: each district's auditors
    see what an import changed in their district."""
    touched = []
    for start in range(0, len(rows), CHUNK):
        codes = [row.code for row in rows[start : start + CHUNK]]
        touched.extend(session.scalars(
            sa.select(Unit.path).where(Unit.code.in_(codes)).execution_options(**UNSCOPED)
        ))
    by_district = defaultdict(list)
    for path in touched:
        by_district[paths.ancestor_at(path, 0)].append(path)
    for district_paths in by_district.values() or [[]]:
        top = service.get_unit_at_path(session, path=paths.common_ancestor(district_paths)) if district_paths else None
        audit.record(
            session,
            action="unit.import",
            target_type="unit",
            target_id=top.id if top else None,
            target_label=f"{top.code} {top.name}" if top else f"{len(rows)} units",
            path=top.path if top else None,
            district_id=top.district_id if top else None,
            details={**counts, "units_here": len(district_paths)} if len(by_district) > 1 else dict(counts),
        )


@dataclass
class _Existing:
    unit: Unit
    parent_code: str | None

    @property
    def level(self) -> Level:
        return self.unit.level


def _load_existing(session: Session, codes: set[str]) -> dict[str, _Existing]:
    parent = aliased(Unit)
    found = {}
    codes = sorted(codes)
    for start in range(0, len(codes), CHUNK):
        stmt = (
            sa.select(Unit, parent.code)
            .outerjoin(parent, Unit.parent_id == parent.id)
            .where(Unit.code.in_(codes[start : start + CHUNK]))
            .execution_options(**UNSCOPED)  # a code is unique everywhere, not just in scope
        )
        for unit, parent_code in session.execute(stmt):
            found[unit.code] = _Existing(unit, parent_code if parent_code else unit.city_code)
    return found


def _insert_new(session, *, rows: list[Row], existing: dict[str, _Existing], progress) -> None:
    """Insert new units level by level in bulk, allocating paths in memory.

    Existing parents are locked and their ``next_child`` counters advanced once each, exactly as
    a single insert would (see ``service.allocate_child_path``).
    """
    if not rows:
        return
    new_children = Counter(row.parent_code for row in rows if row.level is not Level.DISTRICT)
    existing_parents = sorted({code for code in new_children if code in existing})
    sequence_of: dict[str, int] = {}  # parent code → last sequence handed out
    path_of: dict[str, str] = {}
    id_of: dict[str, int] = {}
    district_of: dict[str, int] = {}
    for start in range(0, len(existing_parents), CHUNK):
        chunk = [existing[code].unit.id for code in existing_parents[start : start + CHUNK]]
        locked = session.execute(
            sa.select(Unit.code, Unit.id, Unit.path, Unit.next_child, Unit.district_id)
            .where(Unit.id.in_(chunk))
            .order_by(Unit.id)
            .with_for_update(key_share=True)  # as service.lock_units, which took them already
            .execution_options(**UNSCOPED)
        )
        for code, unit_id, path, next_child, district_id in locked:
            sequence_of[code], path_of[code], id_of[code], district_of[code] = (
                next_child, path, unit_id, district_id,
            )

    sequence_of[""] = service.last_root_sequence(session)
    path_of[""] = ""

    for level in Level:
        batch = [row for row in rows if row.level is level]
        if not batch:
            continue
        values = []
        for row in batch:
            parent_key = "" if level is Level.DISTRICT else row.parent_code
            sequence_of[parent_key] += 1
            path = paths.child_path(path_of[parent_key], sequence_of[parent_key])
            path_of[row.code] = path
            sequence_of[row.code] = 0
            district_of[row.code] = district_of.get(parent_key)
            values.append(
                {
                    "code": row.code,
                    "name": row.name,
                    "level": level,
                    "parent_id": id_of.get(parent_key),
                    "district_id": district_of.get(parent_key),
                    "path": path,
                    "depth": level.rank,
                    "next_child": new_children.get(row.code, 0),
                    "city_code": row.parent_code if level is Level.DISTRICT else None,
                    **{k: getattr(row, k) for k in OPTIONAL_COLUMNS},
                    "active": row.active is not False,
                }
            )
        for start in range(0, len(values), 5000):
            chunk = values[start : start + 5000]
            inserted = session.execute(sa.insert(Unit).returning(Unit.id, Unit.code), chunk)
            for unit_id, code in inserted:
                id_of[code] = unit_id
                if level is Level.DISTRICT:
                    district_of[code] = unit_id
            progress(len(chunk))
        if level is Level.DISTRICT:
            session.execute(
                sa.update(Unit)
                .where(Unit.level == Level.DISTRICT, Unit.district_id.is_(None))
                .values(district_id=Unit.id)
                .execution_options(synchronize_session=False)
            )

    for code in existing_parents:
        session.execute(
            sa.update(Unit)
            .where(Unit.code == code)
            .values(next_child=sequence_of[code])
            .execution_options(synchronize_session=False)
        )


def export_rows(session: Session, *, unit: Unit) -> Iterator[dict]:
    """The subtree at ``unit`` in import columns, parents before children (tree order)."""
    parent = aliased(Unit)
    stmt = (
        sa.select(Unit, parent.code)
        .outerjoin(parent, Unit.parent_id == parent.id)
        .where(in_subtree(Unit.path, unit.path))
        .order_by(Unit.path)
        # Unscoped only so that the exported root names its parent; every row is in the subtree.
        .execution_options(yield_per=2000, **UNSCOPED)
    )
    for member, parent_code in session.execute(stmt):
        yield {
            "code": member.code,
            "name": member.name,
            "level": member.level.value,
            "parent_code": parent_code or member.city_code,
            **{column: getattr(member, column) for column in OPTIONAL_COLUMNS},
            ACTIVE: member.active,
        }


def _cell(column: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return code_cell(value) if column in CODES else inert_cell(value)


def rows_to_csv(rows) -> Iterator[str]:
    """CSV text in chunks; a byte-order mark first so spreadsheet programs read the Chinese."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writeheader()
    for count, row in enumerate(rows, 1):
        writer.writerow({column: _cell(column, value) for column, value in row.items()})
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
