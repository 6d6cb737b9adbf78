"""The submissions the benchmark grades: a class-like mix of right, wrong and broken notebooks.

Every kind of submission has a label and the set of functions it is meant to
lose (or BROKEN when the file cannot be read at all).  Student i gets kind
i % len(kinds), so any N covers the first N kinds and a large N repeats the
whole mix.  The order puts the broken files and the bundled seed samples
first, so even a tiny N (6) meets every path through the graders.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import assignment
from autograder.course import samples
from autograder.grading import mistakes

BROKEN = "broken"  # expected outcome of a file no grader can read


@dataclass(frozen=True)
class Kind:
    label: str               # short, unique, safe in a student id
    plan: dict | None        # samples.make_notebook plan, or None for raw bytes
    raw: bytes | None        # the file's bytes when plan is None
    failing: object          # frozenset of functions expected to score 0, or BROKEN


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def kinds():
    """Every kind of submission, in the order students are given them."""
    everything = frozenset(assignment.FUNCTIONS)
    out = [
        Kind("reference", {"*": "reference"}, None, frozenset()),
        Kind("release", {"*": "release"}, None, everything),
        Kind("seed-001", samples.SAMPLES["carol"], None, frozenset({"lstm_backward"})),
        Kind("seed-002", samples.SAMPLES["dave"], None, frozenset({"lstm_backward"})),
        # a notebook cut off in the middle of a save: not JSON
        Kind("invalid-json", None, b'{"cells": [{"cell_type": "code", "source": "def rnn_', BROKEN),
        Kind("empty", None, b"", BROKEN),
    ]
    for m in mistakes.MISTAKES:
        out.append(Kind(_slug(f"{m.function}-{m.code}"),
                        {"*": "reference", m.function: mistakes.variant_source(m)}, None,
                        frozenset({m.function})))
    labels = [k.label for k in out]
    assert len(labels) == len(set(labels)), "submission labels must be unique"
    return out


BUGGY_PER_CORRECT = 19


def first_round_kinds():
    """The mix of the start-up/floor issue (issue 12), like a first round of submissions:
    one correct notebook, then 19 buggy ones, in turn.  Buggy notebook j has a known
    mistake in every one of the eight functions (the j-th mistake of each function's
    list, cycling), so every function fails and needs a diagnosis, as in a class that
    hands in its first attempts.  Mistakes repeat across notebooks for the functions
    with few of them, as real students repeat the common mistakes."""
    by_function = {f: [m for m in mistakes.MISTAKES if m.function == f] for f in assignment.FUNCTIONS}
    out = [Kind("reference", {"*": "reference"}, None, frozenset())]
    for j in range(BUGGY_PER_CORRECT):
        plan = {"*": "reference"}
        for function, known in by_function.items():
            plan[function] = mistakes.variant_source(known[j % len(known)])
        out.append(Kind(f"first-round-{j + 1:02d}", plan, None, frozenset(assignment.FUNCTIONS)))
    return out


def student_ids(n, mix=None):
    """[(student id, Kind)] for n students (of kinds(), or of the given list of kinds)."""
    mix = kinds() if mix is None else mix
    return [(f"s{i:04d}-{mix[i % len(mix)].label}", mix[i % len(mix)]) for i in range(n)]


def write(submitted_dir, release_notebook, n, mix=None):
    """Write n submissions in nbgrader's layout; return {student id: Kind}."""
    release_nb = nbformat.read(str(release_notebook), as_version=4)
    name = assignment.ASSIGNMENT
    rendered = {}
    students = {}
    for student, kind in student_ids(n, mix):
        folder = Path(submitted_dir) / student / name
        folder.mkdir(parents=True, exist_ok=True)
        if kind.label not in rendered:
            if kind.plan is None:
                rendered[kind.label] = kind.raw
            else:
                nb = samples.make_notebook(release_nb, kind.plan)
                rendered[kind.label] = nbformat.writes(nb).encode("utf-8")
        (folder / f"{name}.ipynb").write_bytes(rendered[kind.label])
        students[student] = kind
    return students
