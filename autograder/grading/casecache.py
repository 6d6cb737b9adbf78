"""The prepared cases and the teacher notebook's facts, cached on disk between batches.

Preparing a batch means reading the teacher notebook with jupytext (whose nbformat
import alone costs seconds), running the reference on the 40 cases and writing the
payload files the sandboxed children read.  None of it changes between two batches
graded with the same notebook and the same grader, so the batch grader keeps it in one
file and a warm start reads that file instead:

    setup          the setup cell's source
    functions      [(name, points, reference source)] in notebook order
    prepared       {function: [cases.Prepared]}: inputs, reference answers, recorded calls
    payloads       {function: (bytes of its inputs npz, of its oracle-calls npz) (grading.payloads.make_payload)}
    variants       a pickle of every single known mistake's results on every case
                   (grading.verdict.single_variant_results), decoded when the judge first
                   needs one (a warm start that judges nothing never reads it)

The file is **keyed** by a digest of the teacher notebook's bytes, the grader's version
(grading.version.GRADER_VERSION), the numpy and Python versions, and the source of every
module that computes what it holds (cases, assignment, structure, payloads, verdict,
mistakes, engine and compare (the variants' oracle), version, rnn_utils, this module).
Any change rebuilds it.

The file is **not trusted blindly**.  It is used only when it and its folder belong to
the user running the grader and nobody else may write them; its body must match the
sha256 recorded in its header; it is read with an unpickler that can build only numpy
arrays and the two case classes (never call anything else); the cases must be exactly
those cases.cases_for defines; and every source it holds must occur, verbatim, in the
teacher notebook.  Anything else (a truncated, corrupt, foreign or stale file) is
rebuilt from the notebook and replaced atomically (temporary file, fsync, rename).  The
variant results, decoded later with the same unpickler, must be exactly the runs
single_variant_keys names, each flat results of numeric arrays and text markers or an
error text; if they are not, the judge runs the variants itself and the file is removed,
so that the next start rebuilds it.

**Where**: the setting ``--case-cache DIR`` of ``python -m autograder grade`` (or the
environment variable RNN_STEP_BY_STEP_CACHE); by default
``$XDG_CACHE_HOME/rnn-step-by-step`` (``~/.cache/rnn-step-by-step``), created with mode
0700.  It is the instructor's own folder: the sandboxed children never see it, and a
student cannot write there.  (``nbgrader autograde`` runs student code as the instructor
and so could; the batch grader's checks above then still refuse code that is not the
teacher's, and the README already warns that autograde gives student code the
instructor's rights.)  ``off`` (or an empty value) disables the cache: every batch then
prepares the cases itself.  Only the batch grader reads the cache; the notebook's hidden
tests always compute their cases.
"""
import hashlib
import io
import json
import os
import pickle
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import assignment, cases

ENV = "RNN_STEP_BY_STEP_CACHE"
MAGIC = b"rnn-step-by-step case cache, format 1\n"
MAX_HEADER = 4096
# The modules whose code decides what the cache holds (their source is part of the key).
_PACKAGE = Path(__file__).resolve().parent.parent  # autograder/
_CODE = [_PACKAGE / name for name in
         ("assignment.py", "cases.py", "grading/casecache.py", "grading/payloads.py",
          "grading/version.py", "grading/verdict.py", "grading/mistakes.py",
          "sandbox/structure.py", "sandbox/engine.py", "sandbox/compare.py")] + [assignment.ROOT / "rnn_utils.py"]


def folder(value):
    """The cache folder a setting names (--case-cache or $RNN_STEP_BY_STEP_CACHE): None for
    "off" or an empty value, which switch the cache off."""
    return None if value.strip().lower() in ("", "off") else Path(value)


def default_dir():
    """The cache folder when no setting names one: $RNN_STEP_BY_STEP_CACHE, else
    $XDG_CACHE_HOME/rnn-step-by-step, else ~/.cache/rnn-step-by-step; None when off."""
    value = os.environ.get(ENV)
    if value is not None:
        return folder(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rnn-step-by-step"


@dataclass
class Bundle:
    """What one teacher notebook prepares, and how it was obtained."""
    setup: str
    functions: tuple            # assignment.GradedFunction, notebook order
    prepared: dict              # function -> tuple of cases.Prepared
    payloads: dict              # function -> (inputs npz bytes, oracle calls npz bytes)
    origin: str                 # "cache", or "built (<why>)"
    path: Path | None = None    # the cache file, when there is one
    variants: bytes | None = None  # pickled single-mistake results; None: not worked out


def key(notebook=assignment.TEACHER_NOTEBOOK):
    """The digest a cache file must carry to be used for this teacher notebook and grader."""
    import numpy
    from . import version
    h = hashlib.sha256(MAGIC)

    def part(label, data):
        h.update(label.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    part("grader version", str(version.GRADER_VERSION).encode())
    part("numpy", numpy.__version__.encode())
    part("python", sys.version.split()[0].encode())
    part("notebook", Path(notebook).read_bytes())
    for path in _CODE:
        part(path.name, path.read_bytes())
    return h.hexdigest()


def cache_file(directory, notebook=assignment.TEACHER_NOTEBOOK):
    """One file per teacher notebook (by its resolved path) in the cache folder."""
    name = hashlib.sha256(str(Path(notebook).resolve()).encode()).hexdigest()[:16]
    return Path(directory) / f"cases-{name}.bin"


_LOADED = {}  # notebook path -> Bundle used by this process


def ensure(directory, log=None):
    """The Bundle of the teacher notebook (assignment.TEACHER_NOTEBOOK): from the cache
    file in `directory` when it is valid, else built (and written there).  `directory`
    None: built, not cached.  The facts and cases are handed to autograder.assignment and
    autograder.cases, so that the rest of the grader uses them without reading the
    notebook again (once per process)."""
    notebook = assignment.TEACHER_NOTEBOOK
    if notebook in _LOADED:
        return _LOADED[notebook]
    log = log or (lambda message: None)
    bundle, why = None, "no cache folder"
    if directory is not None:
        directory = Path(directory)
        path = cache_file(directory, notebook)
        want = key(notebook)
        try:
            bundle = _read(path, want, notebook)
            bundle.path = path
        except FileNotFoundError:
            why = "no cache file yet"
        except CacheRefused as error:
            why = str(error)
            if path.exists():
                log(f"case cache {path}: {why}; rebuilding it")
        if bundle is None:
            bundle = build(notebook, f"built ({why})", variants=True)
            try:
                _write(directory, path, want, bundle)
                bundle.path = path
            except (OSError, CacheRefused) as error:
                log(f"case cache not written ({error}); the cases are prepared on every start")
    else:
        bundle = build(notebook, "built (cache off)")
    _install(notebook, bundle, log)
    _LOADED[notebook] = bundle
    return bundle


def build(notebook, origin, variants=False):
    """Prepare everything from the teacher notebook (jupytext, the reference runs), and
    with `variants` also every single known mistake's results (to be written to the file;
    this process keeps them in verdict._variant_result's memo)."""
    from . import payloads as payload_files
    setup, functions = assignment.parse_teacher_notebook(notebook)
    assignment.use_facts(setup, functions)
    prepared = {f: tuple(cases.compute(c) for c in cases.cases_for(f)) for f in assignment.FUNCTIONS}
    saved = dict(cases.LOADED)
    try:  # make the payloads and the variant results from exactly these cases
        cases.LOADED.update({p.case: p for ps in prepared.values() for p in ps})
        payloads = {f: payload_files.payload_bytes(f) for f in assignment.FUNCTIONS}
        results = _single_variants() if variants else None
    finally:
        cases.LOADED.clear()
        cases.LOADED.update(saved)
    return Bundle(setup, functions, prepared, payloads, origin,
                  variants=None if results is None else pickle.dumps(results, protocol=5))


def _single_variants():
    from . import verdict
    verdict.use_stored_variants(None)  # run them all: none may come from another file
    return verdict.single_variant_results()


def _install(notebook, bundle, log):
    assignment.use_facts(bundle.setup, bundle.functions)
    cases.LOADED.update({p.case: p for ps in bundle.prepared.values() for p in ps})
    if bundle.origin == "cache":
        from . import verdict
        verdict.use_stored_variants(lambda: _variant_results(bundle, log))


def _variant_results(bundle, log):
    """The single-mistake results of a file that was read, decoded and checked; None (the
    judge then runs the variants) and the file removed when they cannot be used."""
    try:
        return _checked_variants(_Unpickler(io.BytesIO(bundle.variants)).load())
    except Exception as error:  # noqa: BLE001 -- any damage means: run them, rebuild next time
        why = str(error) if isinstance(error, CacheRefused) else f"unreadable ({type(error).__name__})"
        log(f"case cache {bundle.path}: its variant results are refused ({why}); "
            "they are run instead, and the file is rebuilt on the next start")
        try:
            if bundle.path is not None:
                bundle.path.unlink()
        except OSError:
            pass
        return None


def _checked_variants(results):
    """The decoded variant results, if they are exactly the runs the judge asks for, each
    None, or (flat results or None, error text or None) with flat results of numeric arrays
    under their paths and text markers under "...#"."""
    import numpy as np
    from . import verdict
    if type(results) is not dict or set(results) != set(verdict.single_variant_keys()):
        raise CacheRefused("they are not the runs of the known mistakes")
    for result in results.values():
        if result is None:
            continue
        if type(result) is not tuple or len(result) != 2:
            raise CacheRefused("a result is not (results, error)")
        flat, error = result
        if error is not None and type(error) is not str:
            raise CacheRefused("an error is not a text")
        if flat is None:
            continue
        if type(flat) is not dict:
            raise CacheRefused("a result is not a dict")
        for path, value in flat.items():
            if type(path) is not str or not (
                    type(value) is str if path.endswith("#") else
                    type(value) is np.ndarray and value.dtype.kind in "biuf"):
                raise CacheRefused("a result holds something other than arrays and markers")
    return results


# ---------------------------------------------------------------------------
# the file
# ---------------------------------------------------------------------------


class CacheRefused(Exception):
    """The cache file cannot be used; the message says why."""


def _check_private(path, what):
    """Refuse a file or folder that is not ours or that others may write."""
    info = os.stat(path, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        raise CacheRefused(f"the {what} {path} is a link")
    if info.st_uid != os.geteuid():
        raise CacheRefused(f"the {what} {path} belongs to another user")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheRefused(f"others may write the {what} {path}")


def _read(path, want, notebook):
    _check_private(path.parent, "cache folder")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        _check_private(path, "cache file")
        data = fh.read()
    if not data.startswith(MAGIC):
        raise CacheRefused("not a case cache file")
    header_end = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    try:
        header = json.loads(data[len(MAGIC):header_end])
        body = data[header_end + 1:]
        if header["key"] != want:
            raise CacheRefused("made from another teacher notebook or grader version")
        if header["bytes"] != len(body) or header["sha256"] != hashlib.sha256(body).hexdigest():
            raise CacheRefused("corrupt (its digest does not match)")
        content = _Unpickler(io.BytesIO(body)).load()
        return _checked(content, notebook)
    except CacheRefused:
        raise
    except Exception as error:  # noqa: BLE001 -- any damage means: rebuild
        raise CacheRefused(f"unreadable ({type(error).__name__})") from None


def _checked(content, notebook):
    """The Bundle of a decoded file, after checking that it holds what it must."""
    text = Path(notebook).read_text(encoding="utf-8")
    setup, functions = content["setup"], content["functions"]
    if not isinstance(setup, str) or setup not in text:
        raise CacheRefused("its setup cell is not the teacher notebook's")
    graded = []
    for (name, points, source), expected in zip(functions, assignment.FUNCTIONS):
        if name != expected or not isinstance(source, str) or source not in text or \
                type(points) is not float:
            raise CacheRefused(f"its {expected} is not the teacher notebook's")
        graded.append(assignment.GradedFunction(name, points, source))
    if len(graded) != len(assignment.FUNCTIONS):
        raise CacheRefused("it lacks functions")
    prepared, payloads = {}, {}
    for function in assignment.FUNCTIONS:
        got = tuple(content["prepared"][function])
        if not all(type(p) is cases.Prepared for p in got) or \
                tuple(p.case for p in got) != cases.cases_for(function):
            raise CacheRefused(f"its cases of {function} are not the grader's")
        data = content["payloads"][function]
        if type(data) is not tuple or len(data) != 2 or any(type(d) is not bytes for d in data):
            raise CacheRefused(f"its payloads of {function} are not two npz files")
        prepared[function], payloads[function] = got, data
    variants = content["variants"]
    if type(variants) is not bytes:
        raise CacheRefused("its variant results are not a pickle")
    return Bundle(setup, tuple(graded), prepared, payloads, "cache", variants=variants)


def _write(directory, path, want, bundle):
    """Write the cache file atomically (a private temporary file renamed over it)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_private(directory, "cache folder")
    content = {"setup": bundle.setup,
               "functions": [(f.name, f.points, f.reference_source) for f in bundle.functions],
               "prepared": {f: list(ps) for f, ps in bundle.prepared.items()},
               "payloads": bundle.payloads, "variants": bundle.variants}
    body = pickle.dumps(content, protocol=5)
    header = json.dumps({"key": want, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()})
    fd, tmp = tempfile.mkstemp(prefix=".cases-", suffix=".tmp", dir=directory)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + header.encode() + b"\n" + body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# What the file may make: numpy arrays, dtypes and scalars, and the two case classes (its
# variant results need nothing more: dicts, tuples, text, arrays).
_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("autograder.cases", "Case"), ("autograder.cases", "Prepared"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise CacheRefused(f"it asks for {module}.{name}")
        return super().find_class(module, name)
