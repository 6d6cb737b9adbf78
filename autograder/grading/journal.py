"""The journal: one file per finished student in OUT_DIR/.journal.

A killed batch resumes where it stopped, and a submission that has not changed since it
was graded (same fingerprint, autograder.grading.submissions) is not graded again.
"""
import json
import os
from pathlib import Path

from . import untrusted


class Journal:
    """One file per finished student in OUT_DIR/.journal: resume and skip unchanged work."""

    def __init__(self, out):
        self.dir = Path(out) / ".journal"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, student):
        # any folder name: one that is not UTF-8 comes as lone surrogates (os.fsdecode)
        return self.dir / (untrusted.digest(student, 32) + ".json")

    def get(self, student, key):
        """The kept entry of a student whose submission is unchanged, else None (never raises)."""
        try:
            record = json.loads(self._path(student).read_text())
            if record.get("key") == key and record.get("student") == student and \
                    isinstance(record.get("entry"), dict):
                return record["entry"]
        except Exception:  # noqa: BLE001 -- a damaged journal file means: grade again
            pass
        return None

    def put(self, student, key, entry):
        """Keep one finished entry, already cleaned (clean_entry): get() gives it back as it
        is.  False (and nothing kept) if it cannot be written."""
        path = self._path(student)
        tmp = path.with_suffix(".tmp")
        try:
            # ASCII JSON: lone surrogates of a folder name are kept as \\udcff escapes
            tmp.write_text(json.dumps({"student": student, "key": key, "entry": entry}))
            os.replace(tmp, path)
            return True
        except (OSError, ValueError, TypeError):
            return False
