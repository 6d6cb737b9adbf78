"""When each submission was handed in, and whether it was late.

``nbgrader collect`` leaves ``submitted/<student>/<assignment>/timestamp.txt``
next to the notebook (nbgrader's own format, e.g. ``2026-12-01 09:30:00.123456 UTC``).
The due date is nbgrader's too: the assignment's ``duedate`` in the gradebook
(set with ``nbgrader db assignment add <assignment> --duedate="2026-12-01 17:00 UTC"``
or in formgrader's assignment list), moved by a student's extension
(``Gradebook.grant_extension``).  Lateness is counted as nbgrader counts it:
the submission time minus the due date plus the extension, when positive.

``annotate`` adds to a results entry::

    submitted_at   ISO 8601 time in UTC ("2026-12-01T09:30:00+00:00"), or None
    seconds_late   seconds after the due date (0 when on time), or None when
                   the submission time or the due date is unknown
    late           True when seconds_late > 0
    timestamp_problem   why timestamp.txt was not used (only when it was unreadable)
"""
from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

__all__ = ["TIMESTAMP_FILE", "read_timestamp", "seconds_late", "annotate", "describe_lateness"]

TIMESTAMP_FILE = "timestamp.txt"
MAX_TIMESTAMP_BYTES = 256


def read_timestamp(folder: Path) -> tuple[datetime.datetime | None, str | None]:
    """(time in naive UTC, None), (None, None) without a timestamp file, or (None, why).

    The folder is a submission, so the file is read as untrusted: a regular file, not a
    link, and no more than a few hundred bytes."""
    path = Path(folder) / TIMESTAMP_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as error:
        return None, f"{TIMESTAMP_FILE} cannot be opened ({error.strerror})"
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses folders
        os.close(fd)
        return None, f"{TIMESTAMP_FILE} is not a regular file"
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_TIMESTAMP_BYTES + 1)
    if len(raw) > MAX_TIMESTAMP_BYTES:
        return None, f"{TIMESTAMP_FILE} is longer than a timestamp"
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return None, f"{TIMESTAMP_FILE} is empty"
    from nbgrader.utils import parse_utc
    try:
        return parse_utc(text), None
    except (ValueError, OverflowError, TypeError):
        return None, f"{TIMESTAMP_FILE} holds no time nbgrader can read"


def seconds_late(submitted: datetime.datetime | None, duedate: datetime.datetime | None,
                 extension: datetime.timedelta | None = None) -> float | None:
    """Seconds after the (extended) due date, 0.0 when on time, None when either time is unknown."""
    if submitted is None or duedate is None:
        return None
    due = duedate + (extension or datetime.timedelta(0))
    return max(0.0, (submitted - due).total_seconds())


def annotate(entry: dict, folder: Path, duedate: datetime.datetime | None,
             extension: datetime.timedelta | None = None) -> dict:
    """Add submitted_at, seconds_late and late (see the module docstring) to a results entry."""
    submitted, problem = read_timestamp(folder)
    late_by = seconds_late(submitted, duedate, extension)
    entry["submitted_at"] = (submitted.replace(tzinfo=datetime.timezone.utc).isoformat()
                             if submitted is not None else None)
    entry["seconds_late"] = late_by
    entry["late"] = bool(late_by)
    if problem:
        entry["timestamp_problem"] = problem
    else:
        entry.pop("timestamp_problem", None)
    return entry


def describe_lateness(seconds: float) -> str:
    """'2 days 3 h 5 min' for a number of seconds late."""
    minutes = int(round(seconds / 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts) if seconds >= 60 else f"{seconds:.0f} s"
