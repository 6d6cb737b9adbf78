"""Is the batch grader's case cache keyed, checked and rebuilt as it must be, and does a warm
start grade without the heavy libraries?

The cache (autograder/grading/casecache.py) keeps the teacher notebook's facts, the prepared
cases with the reference answers, and the payload files.  These tests build it in a
copy of the kit (so its teacher notebook can be edited), through a small script run in a
fresh interpreter, and grade the sample submissions through the real command line.
"""
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import assignment
from autograder.course import samples

ROOT = Path(__file__).resolve().parent.parent
NAME = assignment.ASSIGNMENT

# Prints how the cache was obtained, the points it gives, a digest of everything the
# cached cases hold (every value, and which arrays, dicts and lists are the same object),
# and a digest of each function's two payload files (inputs, oracle calls).  With
# "variants": a digest of every single known mistake's results as the judge gets them, and
# how many variants it ran for them (with "fresh" also: the same, all of them run here).
SCRIPT = r"""
import dataclasses, hashlib, json, sys
from pathlib import Path
import numpy as np


def canonical(obj):
    seen, out = {}, []

    def walk(x):
        if isinstance(x, (np.ndarray, dict, list)) or dataclasses.is_dataclass(x):
            if id(x) in seen:
                out.append(("same as", seen[id(x)]))
                return
            seen[id(x)] = len(seen)
        if isinstance(x, np.ndarray):
            out.append(("array", x.dtype.str, x.shape, hashlib.sha256(x.tobytes()).hexdigest()))
        elif isinstance(x, dict):
            out.append(("dict", len(x)))
            for k, v in x.items():
                out.append(("key", k))
                walk(v)
        elif isinstance(x, (list, tuple)):
            out.append((type(x).__name__, len(x)))
            for v in x:
                walk(v)
        elif dataclasses.is_dataclass(x):
            out.append((type(x).__name__,))
            for f in dataclasses.fields(x):
                walk(getattr(x, f.name))
        else:
            out.append((type(x).__name__, repr(x)))
    walk(obj)
    return hashlib.sha256(repr(out).encode()).hexdigest()


def payload_digest(parts):
    # one digest of a function's payload: the arrays (name, dtype, shape, bytes) of each
    # of its two npz files, the inputs and the oracle's calls, in that order
    import io
    assert type(parts) is tuple and len(parts) == 2, type(parts)
    listed = []
    for b in parts:
        with np.load(io.BytesIO(b)) as data:
            listed.append(sorted((k, data[k].dtype.str, data[k].shape, data[k].tobytes())
                                 for k in data.files))
    return hashlib.sha256(repr(listed).encode()).hexdigest()


from autograder.grading import lightimports
lightimports.skip_unused_iri_grammar()
from autograder import assignment, cases
from autograder.grading import casecache, payloads, version
if "version" in sys.argv[2:]:
    version.GRADER_VERSION += "-changed"
if "numpy" in sys.argv[2:]:
    import numpy
    numpy.__version__ += ".changed"
bundle = casecache.ensure(Path(sys.argv[1]), log=lambda m: print("LOG", m, file=sys.stderr))
fresh, fresh_payloads = {}, {}
if "fresh" in sys.argv[2:]:
    fresh = {f: canonical([cases.compute(c) for c in cases.cases_for(f)]) for f in assignment.FUNCTIONS}
    from autograder.grading import verdict  # the payloads made again, from cases computed again
    cases.LOADED.clear()
    verdict.prepared.cache_clear()
    fresh_payloads = {f: payload_digest(payloads.payload_bytes(f)) for f in assignment.FUNCTIONS}
variants, fresh_variants, ran = None, None, None
if "variants" in sys.argv[2:]:
    from autograder.grading import verdict
    runs, run_variant = [], verdict._run_variant
    verdict._run_variant = lambda *args: runs.append(args) or run_variant(*args)
    variants, ran = canonical(verdict.single_variant_results()), len(runs)
    if "fresh" in sys.argv[2:]:
        verdict.use_stored_variants(None)
        fresh_variants = canonical(verdict.single_variant_results())
        assert len(runs) > ran
print(json.dumps({
    "origin": bundle.origin,
    "variants": variants,
    "fresh_variants": fresh_variants,
    "variants_run": ran,
    "points": {f.name: f.points for f in bundle.functions},
    "prepared": {f: canonical(list(ps)) for f, ps in bundle.prepared.items()},
    "fresh": fresh,
    "payload_arrays": {f: payload_digest(parts) for f, parts in bundle.payloads.items()},
    "fresh_payload_arrays": fresh_payloads,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in
                      ("nbformat", "jupytext", "matplotlib", "jinja2", "nbgrader", "jsonschema")),
}))
"""


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A copy of the grader and its teacher notebook, with a private cache folder."""
    base = tmp_path_factory.mktemp("kit")
    kit = base / "kit"
    kit.mkdir()
    shutil.copytree(ROOT / "autograder", kit / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", kit / "notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "rnn_utils.py", kit / "rnn_utils.py")
    (kit / "probe.py").write_text(SCRIPT)
    cache = base / "cache"
    return {"kit": kit, "cache": cache}


def probe(kit, *flags):
    env = dict(os.environ, PYTHONPATH=str(kit["kit"]))
    proc = subprocess.run([sys.executable, str(kit["kit"] / "probe.py"), str(kit["cache"]), *flags],
                          capture_output=True, text=True, cwd=kit["kit"], env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    result["log"] = proc.stderr
    return result


def cache_file(kit):
    [path] = kit["cache"].glob("cases-*.bin")
    return path


def rewrite_body(path, change):
    """Rewrite the cache file with a changed body and a header whose digest matches it."""
    data = path.read_bytes()
    magic_end = data.index(b"\n") + 1
    header_end = data.index(b"\n", magic_end)
    header = json.loads(data[magic_end:header_end])
    body = change(data[header_end + 1:])
    header.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    path.write_bytes(data[:magic_end] + json.dumps(header).encode() + b"\n" + body)


def test_a_warm_start_reads_exactly_what_a_cold_start_prepared(kit):
    """Is the cache built on the first start, read on the second, and are the cases it gives
    (inputs, reference answers, recorded calls, shared objects) exactly the ones the
    reference computes?"""
    first = probe(kit)
    assert first["origin"].startswith("built (no cache file yet")
    assert cache_file(kit).stat().st_mode & 0o077 == 0
    assert kit["cache"].stat().st_mode & 0o077 == 0
    second = probe(kit, "fresh")
    assert second["origin"] == "cache"
    assert second["prepared"] == first["prepared"] == second["fresh"]
    assert second["payload_arrays"] == first["payload_arrays"] == second["fresh_payload_arrays"]
    assert set(first["payload_arrays"]) == set(assignment.FUNCTIONS)
    assert second["points"] == first["points"] == assignment.points()
    assert second["modules"] == [], "a warm start must not import the notebook libraries"
    assert "jupytext" in first["modules"], "the cold start reads the notebook with jupytext"


def test_a_changed_teacher_notebook_rebuilds_the_cache(kit):
    """Does editing the teacher notebook (here: the points of rnn_forward) rebuild the
    cache, so that the new points are used, and is the rebuilt cache then read?"""
    probe(kit)
    notebook = kit["kit"] / "notebooks" / f"{NAME}.py"
    text = notebook.read_text()
    pattern = r'("grade_id": "test_rnn_forward", "locked": true, "points": )10'
    assert re.search(pattern, text)
    notebook.write_text(re.sub(pattern, r"\g<1>15", text))
    try:
        changed = probe(kit)
        assert changed["origin"].startswith("built (made from another teacher notebook")
        assert changed["points"]["rnn_forward"] == 15.0
        again = probe(kit)
        assert again["origin"] == "cache" and again["points"]["rnn_forward"] == 15.0
    finally:
        notebook.write_text(text)
    assert probe(kit)["points"]["rnn_forward"] == 10.0


@pytest.mark.parametrize("flag", ["version", "numpy"])
def test_another_grader_or_numpy_version_rebuilds_the_cache(kit, flag):
    """Does a cache made by another grader version (GRADER_VERSION) or another numpy
    version get rebuilt rather than used?"""
    assert probe(kit)["origin"] == "cache"
    assert probe(kit, flag)["origin"].startswith("built (made from another teacher notebook or grader")
    assert probe(kit)["origin"].startswith("built (made from another")  # and back again


@pytest.mark.parametrize("damage, why", [
    (lambda p: p.write_bytes(p.read_bytes()[:-1000]), "corrupt"),
    (lambda p: p.write_bytes(p.read_bytes()[:-10] + b"0123456789"), "corrupt"),
    (lambda p: p.write_bytes(b""), "not a case cache file"),
    (lambda p: p.write_bytes(b"\x80\x05garbage" * 100), "not a case cache file"),
    (lambda p: rewrite_body(p, lambda body: body[:len(body) // 2]), "unreadable"),
    (lambda p: p.chmod(0o666), "others may write"),
])
def test_a_damaged_cache_is_rebuilt(kit, damage, why):
    """Is a truncated, bit-flipped, emptied, foreign, undecodable or world-writable cache
    file refused with the reason, rebuilt, and then read again?"""
    assert probe(kit)["origin"] == "cache"
    damage(cache_file(kit))
    rebuilt = probe(kit)
    assert rebuilt["origin"].startswith("built (") and why in rebuilt["origin"], rebuilt["origin"]
    assert why in rebuilt["log"]
    after = probe(kit)
    assert after["origin"] == "cache" and after["prepared"] == rebuilt["prepared"]


def test_a_forged_cache_cannot_run_code_or_change_the_reference(kit, tmp_path):
    """Is a cache file with a matching digest still refused when it asks the unpickler for
    something other than arrays and cases (it would run a command), or when it carries
    code that is not the teacher notebook's?"""
    assert probe(kit)["origin"] == "cache"
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    rewrite_body(cache_file(kit), lambda body: pickle.dumps({"setup": Evil()}, protocol=5))
    refused = probe(kit)
    assert "asks for posix.system" in refused["origin"] and not marker.exists()

    def other_setup(body):
        content = pickle.loads(body)
        content["setup"] = "import os\n" + content["setup"]
        return pickle.dumps(content, protocol=5)
    assert probe(kit)["origin"] == "cache"
    rewrite_body(cache_file(kit), other_setup)
    assert "its setup cell is not the teacher notebook's" in probe(kit)["origin"]


def test_a_warm_start_answers_variant_results_without_running_a_variant(kit):
    """Does the cache keep every single known mistake's results on every case, so that a
    warm start's judge gets them without running one variant, and are they exactly the
    results the variants give when run?"""
    probe(kit)
    warm = probe(kit, "variants", "fresh")
    assert warm["origin"] == "cache"
    assert warm["variants_run"] == 0
    assert warm["variants"] == warm["fresh_variants"]


def change_variants(change):
    """A body rewrite (for rewrite_body) that replaces the pickled variant results by
    change(the decoded results)."""
    def rewrite(body):
        content = pickle.loads(body)
        content["variants"] = pickle.dumps(change(pickle.loads(content["variants"])), protocol=5)
        return pickle.dumps(content, protocol=5)
    return rewrite


class RunsCommand:
    """Unpickled, it would run a command that leaves a file (the unpickler must refuse it)."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("forge, why", [
    (lambda results, marker: {**results, next(iter(results)): RunsCommand(marker)}, "asks for posix.system"),
    (lambda results, marker: dict(list(results.items())[1:]), "not the runs of the known mistakes"),
    (lambda results, marker: {k: ([v[0]], v[1]) if v and v[0] else v for k, v in results.items()},
     "a result is not a dict"),
    (lambda results, marker: {k: ({p: a.astype(object) if type(a) is not str else a
                                   for p, a in v[0].items()}, v[1]) if v and v[0] else v
                              for k, v in results.items()},
     "something other than arrays and markers"),
])
def test_forged_variant_results_are_run_instead_and_rebuilt(kit, tmp_path, forge, why):
    """Are forged variant results in a cache file whose digest matches refused when the
    judge first needs them (without running anything they ask for), the variants run
    instead with the right results, and the file rebuilt on the next start?"""
    right = probe(kit, "variants")["variants"]
    marker = tmp_path / "ran"
    rewrite_body(cache_file(kit), change_variants(lambda results: forge(results, marker)))
    forged = probe(kit, "variants")
    assert forged["origin"] == "cache" and why in forged["log"], forged["log"]
    assert forged["variants_run"] > 0 and forged["variants"] == right
    assert not marker.exists()
    assert probe(kit)["origin"].startswith("built (no cache file yet")


def test_a_change_to_the_known_mistakes_rebuilds_the_cache(kit):
    """Does editing autograder/grading/mistakes.py (whose variants the cache's results come
    from) rebuild the cache?"""
    mistakes = kit["kit"] / "autograder" / "grading" / "mistakes.py"
    text = mistakes.read_text()
    probe(kit)
    assert probe(kit)["origin"] == "cache"
    mistakes.write_text(text + "\n# changed\n")
    try:
        assert probe(kit)["origin"].startswith("built (made from another teacher notebook")
    finally:
        mistakes.write_text(text)
    assert probe(kit)["origin"].startswith("built (made from another")


def imported(stderr):
    """Top-level package names that `python -X importtime` reports as imported."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


HEAVY = {"nbformat", "jupytext", "jsonschema", "matplotlib", "nbgrader"}


def test_a_warm_start_grades_without_the_notebook_and_figure_libraries(tmp_path):
    """Does the real command line, with the cache warm, grade the sample class (and write
    every output) without importing nbformat, jupytext, jsonschema, matplotlib or
    nbgrader, and still give each sample exactly its expected results?  (The first, cold
    start imports jupytext and matplotlib: the check can fail.)"""
    submitted = tmp_path / "submitted"
    samples.write_submissions(submitted, ROOT / "release" / NAME / f"{NAME}.ipynb")
    cache = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def grade(out):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "autograder", "grade",
                               str(submitted), "--out", str(out), "--no-gradebook", "--no-progress",
                               "--case-cache", str(cache)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return imported(proc.stderr), json.loads((out / "results.json").read_text())
    cold, cold_results = grade(tmp_path / "out1")
    assert {"jupytext", "matplotlib"} <= cold
    warm, warm_results = grade(tmp_path / "out2")
    assert warm & HEAVY == set(), sorted(warm & HEAVY)
    assert warm_results == cold_results
    for student, failing in samples.EXPECTED_FAILURES.items():
        entry = warm_results["students"][student]
        assert {f for f, r in entry["functions"].items() if not r["passed"]} == failing, student
    for name in ("score_distribution.png", "pass_rate.png", "diagnoses.png", "index.html"):
        assert (tmp_path / "out1" / "report" / name).read_bytes() == \
            (tmp_path / "out2" / "report" / name).read_bytes(), name


def draw_count(calls):
    def draw(values, title):
        calls.append((values, title))
        return f"PNG of {values} {title}".encode()
    return draw


def test_a_figure_is_drawn_again_when_its_data_or_its_file_change(tmp_path):
    """Does the figure cache hand back the bytes drawn before for the same data, draw again
    for other data, and draw again (rather than hand back damaged bytes) when its file was
    truncated or changed?"""
    from autograder.grading import figurecache
    calls = []
    draw = draw_count(calls)
    first = figurecache.png(tmp_path, draw, [1.0, 2.0], "t")
    assert figurecache.png(tmp_path, draw, [1.0, 2.0], "t") == first and len(calls) == 1
    assert figurecache.png(tmp_path, draw, [1.0, 3.0], "t") != first and len(calls) == 2
    [path] = [p for p in (tmp_path / "figures").iterdir()
              if p.name.startswith(figurecache.key(draw, [[1.0, 2.0], "t"]))]
    for damage in (lambda d: d[:-3], lambda d: d[:-1] + b"X", lambda d: b""):
        path.write_bytes(damage(path.read_bytes()))
        assert figurecache.png(tmp_path, draw, [1.0, 2.0], "t") == first
    assert len(calls) == 5
    assert figurecache.png(None, draw, [1.0, 2.0], "t") == first and len(calls) == 6


def test_a_set_up_gradebook_is_written_without_importing_nbgrader(tmp_path):
    """With a gradebook that `nbgrader generate_assignment` set up, does the real command line
    write every sample's scores into it without importing nbgrader (SQLAlchemy alone), and
    does a course whose gradebook is gone still get one, made by nbgrader, with the same
    scores?  (The check can fail both ways: the second run must import nbgrader.)"""
    from conftest import gradebook_scores, make_course, nbgrader

    course = make_course(tmp_path / "course")
    nbgrader(course, "generate_assignment", NAME, "--force")
    submitted = course / "submitted"
    samples.write_submissions(submitted, course / "release" / NAME / f"{NAME}.ipynb")
    env = dict(os.environ, PYTHONPATH=str(ROOT), NBGRADER_DB_URL="")

    def grade(out):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "autograder", "grade",
                               str(submitted), "--out", str(out), "--course", str(course),
                               "--no-progress", "--case-cache", str(tmp_path / "cache")],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results = json.loads((out / "results.json").read_text())
        scores = {s: {f: r["score"] for f, r in e["functions"].items()} for s, e in results["students"].items()}
        return imported(proc.stderr), scores

    names, scores = grade(tmp_path / "out1")
    assert "nbgrader" not in names and "sqlalchemy" in names
    assert gradebook_scores(course) == scores
    (course / "gradebook.db").unlink()
    names, again = grade(tmp_path / "out2")
    assert "nbgrader" in names
    assert again == scores and gradebook_scores(course) == scores
