"""Rosters: a CSV of people (email, full name, optional username) to enrol in a cohort.

Parsing reads the whole file and reports every problem by line, worded for the admin who
made the spreadsheet; a bad row never stops the good ones. Importing creates the people
who are new, enrols everyone and gives each new person an invite link to set a password.
Both steps can be repeated with the same file without changing anything the second time.
"""

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from labplatform.cohorts.invites import invite_create, invite_open_for_user
from labplatform.cohorts.models import Cohort, Enrollment, Invite

EMAIL_COLUMN = "email"
FULL_NAME_COLUMN = "full name"
USERNAME_COLUMN = "username"
# Header cells are compared lower-cased, with "_" read as a space and runs of spaces as one.
_COLUMN_ALIASES = {
    "email": EMAIL_COLUMN,
    "full name": FULL_NAME_COLUMN,
    "name": FULL_NAME_COLUMN,
    "username": USERNAME_COLUMN,
}
_REQUIRED_COLUMNS = (EMAIL_COLUMN, FULL_NAME_COLUMN)
_COLUMNS_HELP = 'The columns are "email", "full name" (or "full_name", "name") and, optionally, "username".'
# User.first_name and User.last_name hold 150 characters each; a full name is split at its first space.
_FULL_NAME_MAX_LENGTH = 150
_EMAIL_MAX_LENGTH = 254
_NOT_USERNAME_CHARACTERS = re.compile(r"[^\w.@+-]")


@dataclass(frozen=True)
class RosterRow:
    """One person from the file. `username` is None when the file gives none: it is then
    derived from the email at import time."""

    line: int
    email: str
    full_name: str
    username: str | None = None


@dataclass(frozen=True)
class RosterError:
    """A row that was skipped; `line` counts the header as line 1."""

    line: int
    reason: str


@dataclass
class RosterParse:
    filename: str
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RosterError] = field(default_factory=list)
    file_error: str | None = None


@dataclass
class RosterImportResult:
    created: list[AbstractUser] = field(default_factory=list)
    enrolled: list[AbstractUser] = field(default_factory=list)
    already_enrolled: list[AbstractUser] = field(default_factory=list)
    invites: list[Invite] = field(default_factory=list)
    """Every invite this import made: one per created user, and one for each existing user
    who had neither a password nor an open invite."""
    errors: list[RosterError] = field(default_factory=list)


def parse_roster(data: bytes, *, filename: str) -> RosterParse:
    parse = RosterParse(filename=filename)
    text, parse.file_error = _decode(data, filename=filename)
    if parse.file_error:
        return parse
    try:
        _parse_records(parse, _records(text), filename=filename)
    except _UnreadableCsv as exc:
        parse.rows, parse.errors = [], []
        parse.file_error = (
            f"{filename} cannot be read as CSV from line {exc.line}: {exc.reason}. "
            'A quote (") that is not closed is the usual cause.'
        )
    return parse


def _parse_records(parse: RosterParse, records: Iterator[tuple[int, int, list[str]]], *, filename: str) -> None:
    """Reads the header, the first line with content, and then each row below it into `parse`."""
    header_line, header = next(((line, cells) for line, _, cells in records if _has_content(cells)), (0, []))
    if not header:
        parse.file_error = f"{filename} is empty: it needs a header line and then one line per person. {_COLUMNS_HELP}"
        return
    columns, parse.file_error = _read_header(header, header_line=header_line, filename=filename)
    if parse.file_error:
        return
    _parse_rows(parse, records, columns, width=len(header))
    if not parse.rows and not parse.errors:
        parse.file_error = f"{filename} has a header (line {header_line}) but no rows below it."


def _parse_rows(
    parse: RosterParse, records: Iterator[tuple[int, int, list[str]]], columns: dict[str, int], *, width: int
) -> None:
    """Adds each row below the header to `parse`: as a row, or as the reason it is refused."""
    seen_emails: dict[str, int] = {}
    seen_usernames: dict[str, int] = {}
    for line, last_line, cells in records:
        if not _has_content(cells):
            continue
        if any("\n" in cell or "\r" in cell for cell in cells):
            # Names never hold line breaks: this is a quote left open, which swallows the lines after it.
            runs_on = f"it runs on to line {last_line}: " if last_line > line else ""
            parse.errors.append(RosterError(line, f'{runs_on}a quote (") in it is not closed'))
            continue
        row, reason = _read_row(line, cells, columns, width=width)
        if row is not None:
            reason = _duplicate(row, seen_emails=seen_emails, seen_usernames=seen_usernames)
        if reason:
            parse.errors.append(RosterError(line, reason))
            continue
        seen_emails[row.email] = line
        if row.username:
            seen_usernames[row.username.lower()] = line
        parse.rows.append(row)


def _decode(data: bytes, *, filename: str) -> tuple[str, str | None]:
    # Excel's "CSV UTF-8" starts the file with a byte order mark; positions count from the file's first byte.
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8"), None
    except UnicodeDecodeError as exc:
        position = bom + exc.start
        line = data.count(b"\n", 0, position) + 1
        return "", (
            f"{filename} is not UTF-8 text (byte 0x{data[position]:02x} at position {position}) on line {line}. "
            'Save it from your spreadsheet as "CSV UTF-8" and upload it again.'
        )


class _UnreadableCsv(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _records(text: str) -> Iterator[tuple[int, int, list[str]]]:
    """Yields (first line, last line, cells) for each record; a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    first_line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _UnreadableCsv(first_line, str(exc)) from None
        yield first_line, reader.line_num, cells
        first_line = reader.line_num + 1


def _has_content(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


def _column_key(cell: str) -> str:
    return " ".join(cell.replace("_", " ").lower().split())


def _read_header(header: list[str], *, header_line: int, filename: str) -> tuple[dict[str, int], str | None]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = _COLUMN_ALIASES.get(_column_key(cell))
        if column is None:
            continue
        if column in columns:
            earlier = header[columns[column]].strip()
            return {}, f'{filename} has two {column} columns, "{earlier}" and "{cell.strip()}": keep one.'
        columns[column] = index
    missing = [column for column in _REQUIRED_COLUMNS if column not in columns]
    if not missing:
        return columns, None
    found = ", ".join(f'"{cell.strip()}"' for cell in header)
    hint = " It looks separated by semicolons: save it with commas." if len(header) == 1 and ";" in header[0] else ""
    names = " or ".join(f'"{column}"' for column in missing)
    return {}, (f"{filename} has no {names} column. Its header (line {header_line}) has {found}.{hint} {_COLUMNS_HELP}")


def _read_row(
    line: int, cells: list[str], columns: dict[str, int], *, width: int
) -> tuple[RosterRow | None, str | None]:
    def cell(column: str) -> str:
        index = columns.get(column)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    if len(cells) > width and _has_content(cells[width:]):
        return None, (
            f"it has {len(cells)} fields but the header has {width}: "
            "a name or email with a comma in it needs quotes around it"
        )
    email = cell(EMAIL_COLUMN).lower()
    full_name = " ".join(cell(FULL_NAME_COLUMN).split())
    username = cell(USERNAME_COLUMN) or None
    reason = _email_problem(email) or _full_name_problem(full_name)
    if reason is None and username is not None:
        reason = _username_problem(username)
    if reason:
        return None, reason
    return RosterRow(line=line, email=email, full_name=full_name, username=username), None


def _email_problem(email: str) -> str | None:
    if not email:
        return "the email is empty"
    if len(email) > _EMAIL_MAX_LENGTH:
        return f"the email is longer than {_EMAIL_MAX_LENGTH} characters"
    try:
        validate_email(email)
    except ValidationError:
        return f'"{email}" is not a valid email address'
    return None


def _full_name_problem(full_name: str) -> str | None:
    if not full_name:
        return "the full name is empty"
    control = next((char for char in full_name if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        return f"the full name contains the control character 0x{ord(control):02x}"
    if len(full_name) > _FULL_NAME_MAX_LENGTH:
        return f"the full name is longer than {_FULL_NAME_MAX_LENGTH} characters"
    return None


def _username_problem(username: str) -> str | None:
    user_model = get_user_model()
    max_length = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length
    if len(username) > max_length:
        return f'the username "{username}" is longer than {max_length} characters'
    try:
        user_model.username_validator(username)
    except ValidationError:
        return f'the username "{username}" is not valid: use only letters, digits and @ . + - _'
    return None


def _duplicate(row: RosterRow, *, seen_emails: dict[str, int], seen_usernames: dict[str, int]) -> str | None:
    if row.email in seen_emails:
        return f"the email {row.email} is already on line {seen_emails[row.email]}"
    if row.username and row.username.lower() in seen_usernames:
        return f'the username "{row.username}" is already on line {seen_usernames[row.username.lower()]}'
    return None


def roster_import(
    *, cohort: Cohort, rows: list[RosterRow], role: str = Enrollment.Role.STUDENT, valid_days: int
) -> RosterImportResult:
    if role not in Enrollment.Role.values:
        raise ValueError(f"role must be one of {Enrollment.Role.values}, not {role!r}")
    result = RosterImportResult()
    # Usernames the file asks for are kept free of derived ones, whatever their order in the file.
    taken = {row.username.lower() for row in rows if row.username}
    with transaction.atomic():
        # A double-clicked Confirm runs two imports of one file: without this lock both would
        # see a person as new, and the second would fail on the unique username. Holding the
        # cohort row makes the second wait, then find everyone already there.
        Cohort.objects.select_for_update().get(pk=cohort.pk)
        for row in rows:
            user, reason = _user_for_row(row, taken=taken, result=result)
            if reason is None:
                reason = _enroll(user, cohort=cohort, role=role, result=result)
            if reason is not None:
                result.errors.append(RosterError(row.line, reason))
                continue
            taken.add(user.username.lower())
            if not user.has_usable_password() and invite_open_for_user(user=user) is None:
                result.invites.append(invite_create(user=user, valid_days=valid_days))
    return result


def _user_for_row(
    row: RosterRow, *, taken: set[str], result: RosterImportResult
) -> tuple[AbstractUser | None, str | None]:
    user_model = get_user_model()
    matches = list(user_model.objects.filter(email__iexact=row.email).order_by("pk")[:3])
    if len(matches) > 1:
        names = ", ".join(f'"{user.username}"' for user in matches)
        return None, f"several users have the email {row.email} ({names}): merge them in the admin first"
    if matches:
        return matches[0], None
    if row.username:
        holder = user_model.objects.filter(username__iexact=row.username).first()
        if holder is not None:
            return None, (
                f'the username "{row.username}" belongs to another user, '
                f"with {f'the email {holder.email}' if holder.email else 'no email'}"
            )
        username = row.username
    else:
        username = _unique_username(row.email, taken=taken)
    first_name, _, last_name = row.full_name.partition(" ")
    user = user_model.objects.create_user(
        username=username, email=row.email, password=None, first_name=first_name, last_name=last_name
    )
    result.created.append(user)
    return user, None


def _unique_username(email: str, *, taken: set[str]) -> str:
    user_model = get_user_model()
    max_length = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length
    base = _NOT_USERNAME_CHARACTERS.sub("", email.partition("@")[0]) or "user"
    candidate, number = base[:max_length], 1
    while candidate.lower() in taken or user_model.objects.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base[: max_length - len(str(number))]}{number}"
    return candidate


def _enroll(user: AbstractUser, *, cohort: Cohort, role: str, result: RosterImportResult) -> str | None:
    enrollment = Enrollment.objects.filter(user=user, cohort=cohort).first()
    if enrollment is None:
        Enrollment.objects.create(user=user, cohort=cohort, role=role)
        result.enrolled.append(user)
    elif enrollment.dropped_at is not None:
        enrollment.dropped_at = None
        enrollment.role = role
        enrollment.save(update_fields=["dropped_at", "role"])
        result.enrolled.append(user)
    elif enrollment.role != role:
        return (
            f'{user.email} ("{user.username}") is already enrolled as {enrollment.get_role_display().lower()}: '
            "change the role on their enrollment in the admin if that is intended"
        )
    else:
        result.already_enrolled.append(user)
    return None
