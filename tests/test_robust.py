"""Batch robustness: can one submission stop the batch, exhaust the parent, or write into the
instructor's tools?

Issue 11, classes 4, 5 and 7.  One module batch (the real command line, a scratch course,
the nbgrader gradebook on, --jobs 1) holds honest students next to
  * submissions that used to stop the whole batch (class 4): a 1,100-deep folder chain
    left in the job folder, an exception text with a lone surrogate, a folder name that
    is not UTF-8, forged structure markers in the results file, notebook metadata with
    control characters;
  * children that send the parent far too much (class 5): millions of tiny entries, tens
    of thousands of extra dict keys, texts and keys far too long;
  * folder names and texts meant for a spreadsheet or a terminal (class 7): formula
    starts, ESC sequences, bidi overrides, tab and CR.
The honest students are graded alone first (the baseline).  The parent's own peak memory
is read from inside it (ru_maxrss of the grading process).

Unit checks on the parent's side of the results channel (structure.loads, the screen of
verdict, the judge guard) use forged bytes directly, so they hold whatever carries the
bytes from the child.
"""
from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import unicodedata
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import assignment
from autograder.course import samples
from autograder.grading import judge, submissions, untrusted, verdict
from autograder.grading.runner import _load_results
from autograder.sandbox import structure

from conftest import NAME, make_course, nbgrader
from test_attacks import KIT, grader_env, grade_cmd

POINTS = assignment.points()
FULL = sum(POINTS.values())
RELEASE = KIT / "release" / NAME / f"{NAME}.ipynb"
HONEST_PLANS = {"alice": samples.SAMPLES["alice"], "carol": samples.SAMPLES["carol"],
                "zoe": {"*": "reference"}}
HIDDEN = set(untrusted.HIDDEN_CATEGORIES)
PEAK_LIMIT_KB = 500 * 1024


def honest_then(function, tail):
    """A cell holding the reference as _honest(), and `function` calling it, then `tail`."""
    ref = assignment.reference_sources()[function].replace(f"def {function}(", "def _honest(")
    return ref + f"\n\ndef {function}(*args):\n    result = _honest(*args)\n" + \
        textwrap.indent(textwrap.dedent(tail).strip("\n"), "    ") + "\n"


def plain(function, body):
    """A cell whose `function` runs `body`."""
    return (f"# GRADED FUNCTION: {function}\nimport numpy as np\n\n"
            f"def {function}(*args, **kwargs):\n" +
            textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n")


# A results file written by student code into its own job folder, in place of the one
# the grader would write; the child then ends as if all went well.
FORGE = '''
import os, json, struct

def _forge(function, strings, arrays=(), blob=b""):
    job = os.getcwd()
    for name in os.listdir(job):
        if os.path.isfile(os.path.join(job, name, "job.json")):
            job = os.path.join(job, name)
            break
    header = strings if isinstance(strings, bytes) else \\
        json.dumps({"strings": strings, "arrays": list(arrays)}).encode()
    data = b"RNNOBS1\\n" + struct.pack("<Q", len(header)) + header + blob
    for run in ("oracle", "own"):
        tmp = os.path.join(job, f".forged-{run}")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, os.path.join(job, f"out_{function}.{run}.obs"))
    os._exit(0)
'''


def forge_cell(function, make_strings):
    """A cell for `function` that forges its results with make_strings() -> strings
    (or (strings, arrays, blob))."""
    body = FORGE + "\n" + textwrap.dedent(make_strings) + f"""

def {function}(*args, **kwargs):
    made = _make()
    _forge("{function}", *(made if isinstance(made, tuple) else (made,)))
"""
    return f"# GRADED FUNCTION: {function}\nimport numpy as np\n" + body


# student -> (plan for the functions that differ from the reference, the one function
# that must fail or None, text its message must hold)
HOSTILE = {
    # --- class 4: nothing a submission does stops the batch ---------------------------
    "deep_chain": ({"rnn_cell_forward": plain("rnn_cell_forward", """
        import os
        fd = os.open(".", os.O_RDONLY)
        for i in range(1100):
            os.mkdir("d" * 40, dir_fd=fd)
            inner = os.open("d" * 40, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.chmod(fd, 0)  # the innermost folder locked (fchmod: no /proc is needed)
        raise ValueError("left a deep folder chain")
        """)}, "rnn_cell_forward", "deep folder chain"),
    "surrogate_error": ({"lstm_cell_forward": plain("lstm_cell_forward",
                                                    'raise ValueError("bad byte \\udcff here")')},
                        "lstm_cell_forward", "bad byte"),
    "forged_marker": ({"rnn_cell_backward": forge_cell("rnn_cell_backward", """
        def _make():
            s = {}
            for i in range(5):
                p = f"c{i}/oracle/"
                s[p + "out#"] = "dict:not json ["
                s[p + "out['dxt']#"] = "ndarray"       # and no array
                s[p + "out['da_prev']#"] = "tuple:abc"
                s[p + "out['dWax']#"] = "dict:[1, 2]"
                s[p + "out['dWaa']"] = "a text where an array goes"
            return s
        """)}, "rnn_cell_backward", None),
    "control_metadata": ({"lstm_backward": "markdown"}, "lstm_backward", "code cell"),
    # --- class 5: the results channel cannot exhaust the parent ------------------------
    "many_entries": ({"rnn_backward": forge_cell("rnn_backward", """
        def _make():
            parts = [b'{"strings": {']
            parts.append(b",".join(b'"%x":""' % i for i in range(1_200_000)))  # 13 MB
            parts.append(b'}, "arrays": []}')
            return b"".join(parts)
        """)}, "rnn_backward", "far larger"),
    "extra_keys": ({"rnn_cell_backward": honest_then("rnn_cell_backward", """
        for i in range(12000):  # 24,000 entries: past MAX_ENTRIES
            result[f"extra{i}"] = np.zeros(1)
        return result
        """)}, "rnn_cell_backward", "far larger"),
    "long_texts": ({"lstm_cell_backward": honest_then("lstm_cell_backward", """
        result["k" * 100000] = np.zeros(1)
        return result
        """)}, "lstm_cell_backward", "far larger"),
    "one_extra_key": ({"rnn_cell_forward": honest_then("rnn_cell_forward", """
        return result[0], result[1], result[2], np.zeros(3)
        """)}, "rnn_cell_forward", "tuple of length 3"),
}

# folder names that are not plain ids (class 4 and class 7); every one submits the reference
ODD_NAMES = [
    os.fsdecode(b"st\xff-not-utf8"),
    '=HYPERLINK("http:example.invalid","x")',  # no "/": a folder name cannot hold one
    "+cmd|' -C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTABSTART",
    "\rCRSTART",
    "esc\x1b[31mred\x1b[0m",
    "rtl\u202eevil\u202c",
    "iso\u2066late\u2069",
    "bell\x07and\x9bcsi",
]


def write_nb(submitted, student, nb, name=f"{NAME}.ipynb"):
    """Write a notebook as ASCII JSON (a lone surrogate in it becomes a \\udcff escape) under
    a folder named by any str, one that is not UTF-8 included (os.fsencode)."""
    folder = os.path.join(os.fsencode(submitted), os.fsencode(student), NAME.encode())
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name.encode()), "w", encoding="ascii") as fh:
        fh.write(json.dumps(nb, indent=1))


def notebook_for(release, plan):
    plan = dict(plan)
    markdown = [f for f, v in plan.items() if v == "markdown"]
    for f in markdown:
        del plan[f]
    nb = samples.make_notebook(release, {"*": "reference", **plan})
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") in markdown:
            cell["cell_type"] = "\x1b[2J\u202emark\udcffdown"  # a cell type no tool knows
    return nb


def run_measured(submitted, out, course, *extra, scratch, jobs=1, timeout=5.0):
    """Run the real command line inside a process that reports its own peak memory
    (ru_maxrss of the grading process: the parent, not its sandboxed children)."""
    cmd = grade_cmd(submitted, out, course, *extra, jobs=jobs, timeout=timeout)
    args = cmd[cmd.index("grade"):]
    probe = ("import resource, sys\nfrom autograder import __main__ as m\n"
             "rc = m.main(sys.argv[1:])\n"
             "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
             "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=KIT, env=grader_env(scratch),
                          capture_output=True, timeout=1500)
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"grader exit {proc.returncode}\n{stderr[-4000:]}"
    peak = int(stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return json.loads((Path(out) / "results.json").read_text()), proc, peak


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("robust")
    course = make_course(scratch / "course")
    nbgrader(course, "generate_assignment", NAME, "--force")
    release = nbformat.read(str(RELEASE), as_version=4)
    base = scratch / "baseline-submitted"
    for student, plan in HONEST_PLANS.items():
        write_nb(base, student, samples.make_notebook(release, plan))
    baseline, _, baseline_peak = run_measured(base, scratch / "baseline-out", course, "--no-gradebook",
                                  scratch=scratch)
    submitted = course / "submitted"
    for student, plan in HONEST_PLANS.items():
        write_nb(submitted, student, samples.make_notebook(release, plan))
    for student, (plan, _, _) in HOSTILE.items():
        write_nb(submitted, student, notebook_for(release, plan))
    for name in ODD_NAMES:
        write_nb(submitted, name, samples.make_notebook(release, {"*": "reference"}))
    out = scratch / "out"
    results, proc, peak = run_measured(submitted, out, course, scratch=scratch)
    return {"course": course, "out": out, "results": results, "baseline": baseline,
            "proc": proc, "peak": peak, "baseline_peak": baseline_peak, "tmp": scratch / "tmpdir"}


# ---------------------------------------------------------------------------
# class 4: a batch always finishes, and a fault costs only its submission
# ---------------------------------------------------------------------------


def test_batch_finishes_with_every_student(batch):
    """Did the batch end normally and grade every student, hostile folder names included?"""
    want = set(HONEST_PLANS) | set(HOSTILE) | set(ODD_NAMES)
    assert set(batch["results"]["students"]) == want
    assert batch["results"]["not_graded"] == []


def test_honest_students_keep_their_baseline(batch):
    """Does each honest student get exactly the result they get when graded alone?"""
    for student in HONEST_PLANS:
        assert batch["results"]["students"][student] == batch["baseline"]["students"][student]


@pytest.mark.parametrize("student", sorted(HOSTILE))
def test_hostile_submission_loses_only_its_function(batch, student):
    """Does each hostile submission lose exactly the function it attacked (0 points there),
    keep every other function, and get a message about that function only?"""
    _, function, text = HOSTILE[student]
    entry = batch["results"]["students"][student]
    assert entry["error"] is None, entry["error"]
    got = entry["functions"][function]
    assert got["score"] == 0.0 and not got["passed"], got
    if text:
        assert text.lower() in got["message"].lower(), got["message"][:500]
    others = {f: r["score"] for f, r in entry["functions"].items() if f != function}
    assert others == {f: POINTS[f] for f in others}, {
        f: r["message"][:200] for f, r in entry["functions"].items() if f != function and not r["passed"]}


def test_forged_markers_are_judged_as_the_students_not_as_a_grader_fault(batch):
    """Are forged structure markers judged as wrong results, without the judge failing?"""
    got = batch["results"]["students"]["forged_marker"]["functions"]["rnn_cell_backward"]
    assert "GRADER_FAULT" not in got["diagnosis"], got["message"]
    assert "grader itself failed" not in got["message"]


def test_odd_folder_names_get_full_marks_and_a_feedback_page(batch):
    """Is a student whose folder name is not UTF-8, or holds control characters, graded
    like anyone else, with a feedback page?"""
    out = batch["out"]
    for name in ODD_NAMES:
        entry = batch["results"]["students"][name]
        assert entry["error"] is None and entry["total"] == FULL, (name, entry)
        from autograder.grading import report
        assert (out / "feedback" / report.feedback_filename(name)).is_file(), name


def test_every_output_is_written_and_valid_utf8(batch):
    """Are results.json, grades.csv, every feedback page and the class report written, all of
    them valid UTF-8 (a lone surrogate never reaches a file)?"""
    out = batch["out"]
    files = [out / "results.json", out / "grades.csv", out / "report" / "index.html",
             *(out / "feedback").glob("*.html")]
    assert len(files) == 3 + len(batch["results"]["students"])
    for path in files:
        path.read_bytes().decode("utf-8")  # raises if not UTF-8
    assert (out / "results.json").read_bytes().isascii()


def test_results_json_keeps_ids_faithful(batch):
    """Does results.json keep every folder name exactly (a non-UTF-8 name as its
    surrogate-escaped form, which os.fsencode turns back into the original bytes)?"""
    ids = set(json.loads((batch["out"] / "results.json").read_text())["students"])
    assert set(ODD_NAMES) <= ids
    assert os.fsencode(os.fsdecode(b"st\xff-not-utf8")) in {os.fsencode(i) for i in ids}


def test_surrogate_message_is_written_out(batch):
    """Is an exception text with a lone surrogate kept, written out as an escape?"""
    message = batch["results"]["students"]["surrogate_error"]["functions"]["lstm_cell_forward"]["message"]
    assert "\\udcff" in message and "\udcff" not in message


def test_nothing_is_left_in_the_grader_temporary_folder(batch):
    """Is the deep folder chain (and every job folder) gone after the batch?"""
    left = [p for p in batch["tmp"].iterdir() if p.name.startswith(("grade-slot", "grade-cases"))]
    assert left == []


def test_a_second_run_keeps_everyone_from_the_journal(batch, tmp_path):
    """Does the same command, run again, keep every student from the journal (odd folder
    names included) and write the same results?"""
    course, out = batch["course"], batch["out"]
    results, proc, _ = run_measured(course / "submitted", out, course, scratch=tmp_path)
    stderr = proc.stderr.decode(errors="replace")
    assert f"{len(batch['results']['students'])} unchanged submission(s) kept from the journal" in stderr
    assert results["students"] == batch["results"]["students"]


# ---------------------------------------------------------------------------
# class 5: the results channel
# ---------------------------------------------------------------------------


def test_parent_peak_memory_stays_under_500_mib(batch, record_property):
    """Does the parent stay under 500 MiB while children send millions of entries?"""
    record_property("parent_peak_mib", round(batch["peak"] / 1024))
    record_property("parent_peak_mib_honest_only", round(batch["baseline_peak"] / 1024))
    assert batch["peak"] < PEAK_LIMIT_KB, f"{batch['peak'] / 1024:.0f} MiB"


def _header_file(header: bytes, blob: bytes = b"") -> bytes:
    return structure.MAGIC + struct.pack("<Q", len(header)) + header + blob


def _honest_obs(function, run="oracle"):
    obs = {}
    for i, want in enumerate(verdict.expected_flat(function)):
        obs.update({f"c{i}/{run}/{k}": v for k, v in want.items()})
    return obs


def test_millions_of_tiny_entries_cost_the_parent_little():
    """Is a results file of 2.5 million tiny entries refused before the parent builds them
    (little memory, an error observation for the function)?"""
    header = b'{"strings": {' + b", ".join(b'"c0/oracle/o%d#": ""' % i for i in range(2_500_000)) + \
        b'}, "arrays": []}'
    data = _header_file(header)
    tracemalloc.start()
    try:
        obs = _load_results(data, "rnn_cell_forward", "oracle")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(obs) == ["oracle/error#"] and "far larger" in obs["oracle/error#"]
    assert peak < 20 * 2**20, f"{peak / 2**20:.1f} MiB"


def test_entries_over_the_cap_are_refused():
    """Is a header under the byte cap but with more entries than MAX_ENTRIES refused?"""
    n = structure.MAX_ENTRIES + 1
    header = json.dumps({"strings": {f"c0/oracle/k{i}#": "" for i in range(n)}, "arrays": []}).encode()
    assert len(header) < structure.MAX_HEADER_BYTES
    with pytest.raises(structure.TooLarge):
        structure.loads(_header_file(header))


@pytest.mark.parametrize("bad", [
    b'{"strings": {}, "arrays": [["out", "<f8", [' + b"1, " * 40 + b'1], 0, 8]]}',  # too many dims
    b'{"strings": {}, "arrays": [["out", "<f8", [0, 99999999999999999999], 0, 0]]}',  # huge dim
    b'{"strings": {}, "arrays": ' + b'[' * 100000 + b']' * 100000 + b'}',  # nested past the parser
    b'{"strings": {"a": 1}, "arrays": []}',  # a number where a text goes
    b'{"strings": {"out#": "x"}, "arrays": [["out#", "<f8", [1], 0, 8]]}',  # a key twice
])
def test_malformed_results_raise_only_value_error(bad):
    """Does structure.loads refuse every malformed header with ValueError, nothing else?"""
    with pytest.raises(ValueError):
        structure.loads(_header_file(bad, b"\0" * 8))


def test_keys_outside_the_expected_structure_are_dropped():
    """Does screening keep the honest results exactly and drop keys of other runs, other
    cases and of no expected structure (however many the byte cap lets through)?"""
    function = "rnn_cell_backward"
    honest = _honest_obs(function)
    sent = dict(honest)
    sent.update({f"c0/oracle/out['extra{i}']": np.zeros(1) for i in range(1000)})
    sent.update({"c99/oracle/out#": "ndarray", "c0/own/out#": "ndarray", "elsewhere": "x",
                 "c0/oracle/out[0][0][0][0][0][0][0][0][0][0]#": "ndarray"})
    screened = verdict.screen(function, "oracle", sent)
    assert screened.keys() == honest.keys()
    for key, value in honest.items():
        if isinstance(value, str):
            assert screened[key] == value
        else:
            assert np.array_equal(screened[key], value) and screened[key].dtype == value.dtype
    assert judge._judge(function, screened).passed


def test_an_array_of_an_unexpected_shape_keeps_no_numbers():
    """Does a 40 MiB array where a small one is expected cost the parent no copy, while the
    verdict still names its shape?"""
    function = "rnn_cell_backward"
    sent = _honest_obs(function)
    key = next(k for k in sent if k.startswith("c0/") and not k.endswith("#"))
    sent[key] = np.frombuffer(bytes(40 * 2**20), dtype="<f8")
    tracemalloc.start()
    try:
        screened = verdict.screen(function, "oracle", sent)
        result = judge._judge(function, screened)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert screened[key].shape == sent[key].shape
    assert peak < 10 * 2**20, f"{peak / 2**20:.1f} MiB"
    assert not result.passed and "shape" in result.message and "GRADER_FAULT" not in result.diagnosis


def test_a_failing_judge_costs_one_function_with_a_grader_fault_message(monkeypatch):
    """When the judge itself raises, is only that function charged, with a message that says
    the grader failed?"""
    def broken(function, obs, points=None):
        raise KeyError("internal")
    monkeypatch.setattr(verdict, "judge", broken)
    obs = {f: _honest_obs(f) for f in assignment.FUNCTIONS}
    judge._JUDGED.clear()
    try:
        entry = judge.judge_submission(dict.fromkeys(assignment.FUNCTIONS, ""), {}, obs)
    finally:
        judge._JUDGED.clear()
    for f in assignment.FUNCTIONS:
        r = entry["functions"][f]
        assert r["score"] == 0.0 and "GRADER_FAULT" in r["diagnosis"]
        assert "grader itself failed" in r["message"] and "KeyError" in r["message"]


# ---------------------------------------------------------------------------
# class 7: what reaches the CSV, the terminal and the gradebook
# ---------------------------------------------------------------------------


def _hidden(text):
    return [ch for ch in text if unicodedata.category(ch) in HIDDEN]


def test_no_csv_field_starts_a_formula_or_holds_a_control_character(batch):
    """Does every field of grades.csv read as plain text in a spreadsheet: no formula start,
    no tab or CR in front, no control, bidi or surrogate character anywhere?"""
    with open(batch["out"] / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1 + len(batch["results"]["students"])
    for row in rows:
        for field in row:
            assert field[:1] not in ("=", "+", "-", "@", "\t", "\r"), row
            assert not _hidden(field), row


def test_csv_rows_name_each_student_recognisably(batch):
    """Can the instructor still tell the odd students apart in grades.csv (one row each,
    the escaped id)?"""
    with open(batch["out"] / "grades.csv", newline="", encoding="utf-8") as fh:
        ids = [row[0] for row in csv.reader(fh)][1:]
    assert len(set(ids)) == len(ids)
    assert "esc\\x1b[31mred\\x1b[0m" in ids and "'=HYPERLINK(\"http:example.invalid\",\"x\")" in ids
    assert "rtl\\u202eevil\\u202c" in ids and "st\\udcff-not-utf8" in ids


def test_score_table_on_the_terminal_has_no_control_characters(batch):
    """Does the printed score table show every id without a control, bidi or surrogate
    character (nothing can recolour the terminal or reverse the columns)?"""
    table = batch["proc"].stdout.decode("utf-8")
    lines = [line for line in table.splitlines() if line.strip()]
    assert len(lines) >= 1 + len(batch["results"]["students"])
    assert not _hidden(table.replace("\n", ""))
    assert any(line.startswith("esc\\x1b[31mred") for line in lines)


def test_stderr_log_has_no_control_characters(batch):
    """Does the grader's log on stderr stay free of ESC and bidi characters?"""
    log = batch["proc"].stderr.decode("utf-8", errors="strict")
    assert "\x1b" not in log and not any("\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069"
                                         for ch in log)


def test_gradebook_ids_are_valid_and_scores_right(batch):
    """Does the nbgrader gradebook hold one valid id per student (UTF-8, no control or
    format character, no formula start) with the right total, honest ids unchanged?"""
    from nbgrader.api import Gradebook
    results = batch["results"]["students"]
    with Gradebook(f"sqlite:///{batch['course'] / 'gradebook.db'}") as gb:
        ids = [s.id for s in gb.students]
        assert len(ids) == len(set(ids)) == len(results)
        for sid in ids:
            sid.encode("utf-8")
            assert not _hidden(sid) and sid[:1] not in "=+-@", repr(sid)
        for student in results:
            sid = untrusted.gradebook_id(student)
            assert sid in ids
            got = gb.find_submission(NAME, sid).score
            assert got == pytest.approx(results[student]["total"]), student
    for student in HONEST_PLANS:
        assert untrusted.gradebook_id(student) == student


def test_an_escaped_student_gets_their_own_autograded_notebook(tmp_path):
    """For a folder whose name is stored in the gradebook under an escaped id, is the
    autograded notebook written where formgrader opens it (autograded/<gradebook id>/...),
    made from that folder's own notebook (its solution cells, its timestamp.txt)?"""
    from nbgrader.api import Gradebook
    from autograder.grading import autograded
    course = make_course(tmp_path / "course")  # no gradebook yet: the batch creates it
    release = nbformat.read(str(RELEASE), as_version=4)
    plans = {ODD_NAMES[0]: samples.SAMPLES["carol"], ODD_NAMES[7]: samples.SAMPLES["frank"]}
    stamps = {}
    for i, (name, plan) in enumerate(plans.items()):
        assert untrusted.gradebook_id(name) != name
        write_nb(course / "submitted", name, samples.make_notebook(release, plan))
        stamps[name] = f"2026-12-01 16:5{i}:00.000000 UTC"
        (course / "submitted" / name / NAME / "timestamp.txt").write_text(stamps[name])
    proc = subprocess.run(grade_cmd(course / "submitted", tmp_path / "out", course, jobs=1),
                          cwd=KIT, env=grader_env(tmp_path), capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-4000:]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        # the student ids formgrader finds autograded/<student id>/<assignment>/ by
        ids = {nb.student.id for nb in gb.notebook_submissions(NAME, NAME)}
    assert ids == {untrusted.gradebook_id(name) for name in plans}
    for name in plans:
        path = autograded.autograded_path(course, untrusted.gradebook_id(name), NAME, NAME)
        assert path.is_file(), name
        written = json.loads(path.read_text(encoding="utf-8"))
        cells = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in written["cells"]
                 if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in assignment.FUNCTIONS}
        own, _ = submissions.read_submission(course / "submitted" / name / NAME / f"{NAME}.ipynb")
        assert cells == own, name
        assert (path.parent / "timestamp.txt").read_text() == stamps[name], name


def test_an_escaped_students_extension_is_counted(tmp_path):
    """Is the extension the gradebook holds for an escaped student id counted when a
    submission in that folder is marked late or on time?"""
    import datetime
    from nbgrader.api import Gradebook
    course = make_course(tmp_path / "course")
    name = ODD_NAMES[7]
    release = nbformat.read(str(RELEASE), as_version=4)
    write_nb(course / "submitted", name, samples.make_notebook(release, {"*": "reference"}))
    (course / "submitted" / name / NAME / "timestamp.txt").write_text("2026-12-01 17:30:00.000000 UTC")
    command = grade_cmd(course / "submitted", tmp_path / "out", course, jobs=1)
    for run in ("first", "second"):
        proc = subprocess.run(command, cwd=KIT, env=grader_env(tmp_path), capture_output=True, timeout=900)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-4000:]
        if run == "first":  # the gradebook now knows the student: due 17:00, one hour more for them
            with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
                gb.find_assignment(NAME).duedate = datetime.datetime(2026, 12, 1, 17, 0)
                gb.db.commit()
                gb.grant_extension(NAME, untrusted.gradebook_id(name), hours=1)
    entry = json.loads((tmp_path / "out" / "results.json").read_text())["students"][name]
    assert (entry["late"], entry["seconds_late"]) == (False, 0.0), entry


@pytest.mark.parametrize("text, want", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-cmd", "'-cmd"), ("@x", "'@x"), ("  =x", "'  =x"),
    ("\t=x", "\\x09=x"), ("\r=x", "\\x0d=x"), ("a\x1bb", "a\\x1bb"), ("a\u202eb", "a\\u202eb"),
    ("a\u2066b", "a\\u2066b"), ("a\x85b", "a\\x85b"), ("a\udcffb", "a\\udcffb"), ("-2", "-2"),
    ("Zoë Ångström", "Zoë Ångström"),
])
def test_csv_field_neutralises_each_kind(text, want):
    """Does csv_field neutralise each formula start and each kind of hidden character, and
    leave plain names and numbers alone?"""
    assert untrusted.csv_field(text) == want
