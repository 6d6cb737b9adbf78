"""The class report's figures, kept between batches and drawn again only when their data change.

A figure of the report (autograder.grading.report) is a pure function of its data: the same
totals, pass rates or diagnosis counts give the same PNG bytes.  Drawing the three of
them costs the matplotlib import and about half a second of drawing, so
``png(folder, draw, *data)`` keeps each PNG in ``folder`` (the grader's cache folder,
see autograder.grading.casecache) under a digest of the drawing function, its data, the source
of the module that draws it and the matplotlib version.  A batch whose figures' data did
not change (an empty class, a batch that kept every student from the journal, the same
class graded again) writes the figures it drew before and never imports matplotlib.

Each file holds the sha256 of its PNG before the PNG; a file that does not match is
ignored and drawn again.  The folder keeps the KEEP newest files.  ``folder`` None:
always draw.
"""
import hashlib
import json
import os
import tempfile
from pathlib import Path

KEEP = 48


def _version():
    """matplotlib's version file (read, not imported: importing is what the cache saves)."""
    import importlib.util
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.origin:
        return "none"
    try:
        return (Path(spec.origin).parent / "_version.py").read_text()
    except OSError:
        return spec.origin


def key(draw, data):
    h = hashlib.sha256(b"report figure 1\0")
    h.update(f"{draw.__module__}.{draw.__qualname__}\0{_version()}\0".encode())
    h.update(Path(draw.__code__.co_filename).read_bytes())
    h.update(json.dumps(data, sort_keys=True, default=repr).encode())
    return h.hexdigest()


def png(folder, draw, *data):
    """draw(*data), the PNG bytes of one figure, or the same bytes kept from an earlier batch."""
    if folder is None:
        return draw(*data)
    folder = Path(folder) / "figures"
    path = folder / f"{key(draw, list(data))}.png"
    try:
        stored = path.read_bytes()
        if hashlib.sha256(stored[32:]).digest() == stored[:32] and len(stored) > 32:
            return stored[32:]
    except OSError:
        pass
    image = draw(*data)
    try:
        _save(folder, path, image)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return image


def _save(folder, path, image):
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".figure-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(hashlib.sha256(image).digest() + image)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    kept = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEEP:]:
        try:
            old.unlink()
        except OSError:
            pass
