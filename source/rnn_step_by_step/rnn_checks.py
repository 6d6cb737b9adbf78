"""Machinery behind the checks of rnn_utils.py.  You need not read this file.

rnn_utils.py holds what the notebook asks you to use (activations, the
example inputs, the visible checks, the gradient check).  The code here does
the bookkeeping for it:

- save_data(), load_data(): rnn_example_data.npz, what a correct
  implementation gives on the published example and on the gradient-check
  case, saved when the assignment was built (numbers only, no code);
- difference(), first_problem(): where a result differs from the expected one;
- stand_in(), run_saved_case(): a correct cell function plays its part in a
  loop function, so that the check of rnn_forward (say) judges rnn_forward alone;
- own_cell_note(), forward_note(): the notes that say when your other
  functions disagree with the correct ones;
- cell_problem(): whether a function was defined in its graded cell, the one
  cell the grader reads;
- placeholder_arguments(), raises_own_stub(): for assert_implemented;
- shown_paths(), shown_values(): the values of each Expected output table;
- numerical_gradient(), loss(): how the build made the numerical gradients;
- vanishing_gradient_data(): the experiment at the end of the notebook.

Nothing here imports rnn_utils: rnn_utils imports this module (inside its
functions), never the reverse.
"""
import copy
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

DATA_NAME = "rnn_example_data.npz"
DATA_FILE = None  # a path here overrides where the data is looked for


def data_file():
    """The saved data: next to the notebook (the kernel's folder), else next to this file."""
    for folder in (Path.cwd(), Path(__file__).resolve().parent):
        if (folder / DATA_NAME).is_file():
            return folder / DATA_NAME
    return Path.cwd() / DATA_NAME


# |got - expected| <= ATOL + RTOL * |expected|: the batch grader's tolerances
# (autograder/sandbox/compare.py; a test checks that they are the same).
RTOL, ATOL = 1e-5, 1e-7

# ---------------------------------------------------------------------------
# The saved example data: nested tuples, lists and dicts of arrays
# ---------------------------------------------------------------------------


def _skeleton(obj, arrays, seen):
    """A JSON-able description of obj; its arrays go into `arrays`, each distinct one once."""
    if isinstance(obj, np.ndarray):
        import hashlib
        digest = hashlib.sha256(f"{obj.dtype.str}{obj.shape}".encode() +
                                np.ascontiguousarray(obj).tobytes()).hexdigest()
        if digest not in seen:
            seen[digest] = f"a{len(arrays)}"
            arrays[seen[digest]] = np.ascontiguousarray(obj)
        return ["a", seen[digest]]
    if isinstance(obj, (tuple, list)):
        return ["t" if isinstance(obj, tuple) else "l", [_skeleton(v, arrays, seen) for v in obj]]
    if isinstance(obj, dict):
        return ["d", [[str(k), _skeleton(v, arrays, seen)] for k, v in obj.items()]]
    if isinstance(obj, (bool, int, float, str, np.integer, np.floating)):
        return ["n", obj.item() if hasattr(obj, "item") else obj]
    raise TypeError(f"cannot save a {type(obj).__name__}")


def _rebuild(node, arrays):
    kind, body = node
    if kind == "a":
        return arrays[body].copy()
    if kind in "tl":
        items = [_rebuild(v, arrays) for v in body]
        return tuple(items) if kind == "t" else items
    if kind == "d":
        return {k: _rebuild(v, arrays) for k, v in body}
    return body


def save_data(path, tree):
    """Write `tree` as a .npz file whose bytes depend only on its contents."""
    arrays = {}
    skeleton = json.dumps(_skeleton(tree, arrays, {}), separators=(",", ":"))
    arrays["skeleton"] = np.frombuffer(skeleton.encode("utf-8"), dtype=np.uint8)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, value, allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0)),
                             buffer.getvalue())


_LOADED = {}


def load_data(path=None):
    """The saved tree, read once; every call returns a fresh copy."""
    path = Path(path or DATA_FILE or data_file())
    if path not in _LOADED:
        if not path.exists():
            raise FileNotFoundError(f"{path.name} is missing: keep the files of the release "
                                    "(rnn_utils.py, rnn_checks.py, rnn_example_data.npz) "
                                    "next to the notebook")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        _LOADED[path] = (json.loads(arrays.pop("skeleton").tobytes().decode("utf-8")), arrays)
    skeleton, arrays = _LOADED[path]
    return _rebuild(skeleton, arrays)


# ---------------------------------------------------------------------------
# Where a result differs from the expected one
# ---------------------------------------------------------------------------

RNN_CACHE = ("a_next", "a_prev", "xt", "parameters")
LSTM_CACHE = ("a_next", "c_next", "a_prev", "c_prev", "ft", "it", "cct", "ot", "xt", "parameters")


def _index(where):
    return "".join(f"[{int(i)}]" for i in where)


def difference(expected, got, label):
    """None when `got` matches `expected` (within RTOL/ATOL), else one sentence saying where not."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{label} should be a dict, got {type(got).__name__}"
        for key in expected:
            if key not in got:
                return f'{label} has no key "{key}"'
            found = difference(expected[key], got[key], f'{label}["{key}"]')
            if found:
                return found
        return None
    if isinstance(expected, (tuple, list)):
        kind = type(expected).__name__
        if type(got) is not type(expected) or len(got) != len(expected):
            size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
            return f"{label} should be a {kind} of length {len(expected)}, got a {type(got).__name__}{size}"
        for i, (want, have) in enumerate(zip(expected, got)):
            found = difference(want, have, f"{label}[{i}]")
            if found:
                return found
        return None
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray):
            return f"{label} should be a numpy array, got {type(got).__name__}"
        if got.shape != expected.shape:
            return f"{label} has shape {got.shape}, expected {expected.shape}"
        if got.dtype.kind not in "biuf":
            return f"{label} should hold numbers, got dtype {got.dtype}"
        with np.errstate(all="ignore"):
            have = got.astype(float)
            if not np.all(np.isfinite(have)):
                return f"{label} contains NaN or inf"
            excess = np.abs(have - expected) - (ATOL + RTOL * np.abs(expected))
        if np.all(excess <= 0):
            return None
        where = np.unravel_index(int(np.argmax(excess)), expected.shape) if expected.ndim else ()
        return (f"{label}{_index(where)} differs: expected {float(expected[where]):.8g}, "
                f"got {float(have[where]):.8g}")
    try:
        ok = abs(float(got) - float(expected)) <= ATOL + RTOL * abs(float(expected))
    except (TypeError, ValueError):
        ok = False
    return None if ok else f"{label} should be {expected!r}, got {got!r}"


def name_entry(function, label):
    """Name the cache entry a label points into: 'cache[4][0][1] differs' ->
    'cache[4][0][1] (ft) differs'; 'caches[0][2][1]...' -> '... (a_prev in the cache of step 2)'."""
    import re
    names = LSTM_CACHE if function.startswith("lstm") else RNN_CACHE

    def named(match):
        step, entry = match.group("step"), int(match.group("entry"))
        if entry >= len(names):
            return match.group(0)
        return match.group(0) + f" ({names[entry]}" + (f" in the cache of step {step})" if step else ")")
    pattern = r"\bcaches\[0\]\[(?P<step>\d+)\]\[(?P<entry>\d+)\](?:\[\d+\])*" if "caches[0]" in label \
        else r"\bcache(?P<step>)\[(?P<entry>\d+)\](?:\[\d+\])*"
    return re.sub(pattern, named, label, count=1)


# What each function computes, in the order it computes it: (name, path into
# the results, what it should be).  The first one that differs is reported.
_RNN_GRAD = "dz = da_next * (1 - a_next**2)"
_LSTM_GRAD = ("dc = dc_next + da_next * ot * (1 - tanh(c_next)**2), then each gate's "
              "pre-activation gradient (see the equations above)")
_SUMMED = "{0} is the sum over every step of that step's {0}"
_CACHES = ("caches is (list of the caches of steps 0 .. T_x-1, x), and a cache keeps the very "
           "arrays it was given: writing into one of them later (say through a view such as "
           "c[:, :, 0]) changes the cache too")
CHECK_ORDER = {
    "rnn_cell_forward": (
        ("a_next", (0,), "a_next = tanh(Waa a_prev + Wax xt + ba)"),
        ("yt_pred", (1,), "yt_pred = softmax(Wya a_next + by), made from the new state a_next"),
        ("cache", (2,), "the cache is (a_next, a_prev, xt, parameters)")),
    "rnn_forward": (
        ("a", (0,), "a[:, :, t] is the state returned by step t"),
        ("y_pred", (1,), "y_pred[:, :, t] is the prediction returned by step t"),
        ("caches", (2,), _CACHES)),
    "lstm_cell_forward": (
        ("ft", (3, 4), "ft = sigmoid(Wf [a_prev; xt] + bf), with a_prev stacked on top of xt"),
        ("it", (3, 5), "it = sigmoid(Wi [a_prev; xt] + bi)"),
        ("cct", (3, 6), "cct = tanh(Wc [a_prev; xt] + bc)"),
        ("ot", (3, 7), "ot = sigmoid(Wo [a_prev; xt] + bo)"),
        ("c_next", (1,), "c_next = ft * c_prev + it * cct"),
        ("a_next", (0,), "a_next = ot * tanh(c_next)"),
        ("yt_pred", (2,), "yt_pred = softmax(Wy a_next + by)"),
        ("cache", (3,), "the cache is (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)")),
    "lstm_forward": (
        ("a", (0,), "a[:, :, t] is the state returned by step t"),
        ("c", (2,), "c[:, :, t] is the memory returned by step t"),
        ("y", (1,), "y[:, :, t] is the prediction returned by step t"),
        ("caches", (3,), _CACHES)),
    "rnn_cell_backward": (
        ("gradients[\"dba\"]", ("dba",), f"dba = sum of dz over the columns, {_RNN_GRAD}"),
        ("gradients[\"dWax\"]", ("dWax",), f"dWax = dz xt^T, {_RNN_GRAD}"),
        ("gradients[\"dWaa\"]", ("dWaa",), f"dWaa = dz a_prev^T, {_RNN_GRAD}"),
        ("gradients[\"dxt\"]", ("dxt",), f"dxt = Wax^T dz, {_RNN_GRAD}"),
        ("gradients[\"da_prev\"]", ("da_prev",), f"da_prev = Waa^T dz, {_RNN_GRAD}")),
    "rnn_backward": (
        ("gradients[\"dx\"]", ("dx",), "dx[:, :, t] is the dxt of step t, whose da_next is "
         "da[:, :, t] + the da_prev of step t + 1"),
        ("gradients[\"dWax\"]", ("dWax",), _SUMMED.format("dWax")),
        ("gradients[\"dWaa\"]", ("dWaa",), _SUMMED.format("dWaa")),
        ("gradients[\"dba\"]", ("dba",), _SUMMED.format("dba")),
        ("gradients[\"da0\"]", ("da0",), "da0 is the da_prev of step 0")),
    "lstm_cell_backward": tuple(
        (f'gradients["{k}"]', (k,), f"{k} comes from {_LSTM_GRAD}")
        for k in ("dbo", "dWo", "dbc", "dWc", "dbi", "dWi", "dbf", "dWf", "dc_prev",
                  "da_prev", "dxt")),
    "lstm_backward": (
        ("gradients[\"dx\"]", ("dx",), "dx[:, :, t] is the dxt of step t, whose da_next is "
         "da[:, :, t] + the da_prev of step t + 1 and whose dc_next is the dc_prev of step t + 1"),
    ) + tuple((f'gradients["{k}"]', (k,), _SUMMED.format(k))
              for k in ("dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo")) + (
        ("gradients[\"da0\"]", ("da0",), "da0 is the da_prev of step 0"),),
}


def first_problem(function, expected, got):
    """The first thing in `got` that differs from `expected`, in computation order, or None."""
    if isinstance(expected, dict) and not isinstance(got, dict):
        return f"{function} should return the gradients dictionary, got a {type(got).__name__}"
    if isinstance(expected, tuple) and (type(got) is not tuple or len(got) != len(expected)):
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        return (f"{function} should return a tuple of {len(expected)} values, got a "
                f"{type(got).__name__}{size}")
    for label, path, hint in CHECK_ORDER[function]:
        want, have = expected, got
        for i, step in enumerate(path):
            want = want[step]
            try:
                have = have[step]
            except (TypeError, KeyError, IndexError):
                where = name_entry(function, label) if i == len(path) - 1 else "the result"
                return f"{where} is missing: {function} should return what its docstring says"
        found = difference(want, have, label)
        if found:
            return f"{name_entry(function, found)}. Remember: {hint}."
    found = difference(expected, got, "gradients" if isinstance(expected, dict) else "the result")
    return None if found is None else name_entry(function, found)


# ---------------------------------------------------------------------------
# A correct cell function for the calls a correct loop makes
# ---------------------------------------------------------------------------

ARGUMENTS = {
    "rnn_cell_forward": ("xt", "a_prev", "parameters"),
    "lstm_cell_forward": ("xt", "a_prev", "c_prev", "parameters"),
    "rnn_cell_backward": ("da_next", "cache"),
    "lstm_cell_backward": ("da_next", "dc_next", "cache"),
}

# What a correct loop passes, in words, for each argument of its cell function.
ARGUMENT_HINTS = {
    "xt": "step t reads the input x[:, :, t]",
    "a_prev": "each step starts from the state the step before returned (a0 only at step 0)",
    "c_prev": "each step starts from the memory the step before returned (zeros at step 0)",
    "parameters": "every step gets the same, unchanged parameters",
    "da_next": "step t gets da[:, :, t] plus the da_prev of step t + 1 (zero after the last step)",
    "dc_next": "step t gets the dc_prev of step t + 1 (zero after the last step)",
    "cache": "step t uses caches[0][t], the cache of that step",
}


class Mismatch(Exception):
    """A loop called its cell function with arguments a correct loop does not pass."""


def _bind(names, args, kwargs, callee):
    bound = list(args) + [kwargs.pop(n) for n in names[len(args):] if n in kwargs]
    if kwargs or len(bound) != len(names):
        raise TypeError(f"{callee}() takes the arguments ({', '.join(names)})")
    return bound


def stand_in(loop, cell, calls, backward):
    """A correct `cell` for the calls a correct `loop` makes on one case.

    calls    -- [(arguments, result)] of those calls, in order
    backward -- True when the loop walks the steps from the last to the first
    The k-th call must receive the k-th recorded arguments; it gets the recorded
    result, whose cache holds the very argument objects (as a real cache does).
    """
    names = ARGUMENTS[cell]
    made = [0]

    def correct_cell(*args, **kwargs):
        bound = _bind(names, args, dict(kwargs), cell)
        k = made[0]
        if k >= len(calls):
            raise Mismatch(f"{loop} called {cell} more than {len(calls)} times; a correct {loop} "
                           "calls it once per step")
        step = len(calls) - 1 - k if backward else k
        wanted, result = calls[k]
        for name, want, have in zip(names, wanted, bound):
            found = difference(want, have, name)
            if found:
                raise Mismatch(f"{loop} is wrong: at step t = {step} it passed {cell} an argument "
                               f"that a correct {loop} does not pass: {found}. "
                               f"Remember: {ARGUMENT_HINTS[name]}.")
        made[0] += 1
        result = copy.deepcopy(result)
        if not backward:  # the cache keeps the objects it was given, as in the real cell
            places = [RNN_CACHE.index(n) if cell.startswith("rnn") else LSTM_CACHE.index(n)
                      for n in names]
            cache = list(result[-1])
            for place, value in zip(places, bound):
                cache[place] = value
            cache[0] = result[0]
            if cell.startswith("lstm"):
                cache[1] = result[1]
            result = result[:-1] + (tuple(cache),)
        return result

    correct_cell.__name__ = cell
    return correct_cell


def run_with(implementation, name, replacement, *args):
    """Call implementation(*args) with the global `name` replaced while it runs."""
    space = getattr(implementation, "__globals__", None)
    if space is None or replacement is None:
        return implementation(*args)
    missing = object()
    saved = space.get(name, missing)
    space[name] = replacement
    try:
        return implementation(*args)
    finally:
        if saved is missing:
            space.pop(name, None)
        else:
            space[name] = saved


def run_saved_case(function, implementation, case="example", path=None):
    """Run your function on a saved case; return (results, what is wrong or None).

    case -- "example" (the published example) or "gradient_check"
    A backward function gets the cache of a correct forward pass.  A loop
    (rnn_forward, ...) runs with a correct cell function standing in for
    yours, so only the loop itself is judged.
    """
    saved = load_data(path)[function][case]
    cell = saved["cell"] or None
    helper = cell and stand_in(function, cell, saved["calls"], function.endswith("backward"))
    try:
        results = run_with(implementation, cell, helper, *saved["args"])
    except Mismatch as error:
        return None, str(error)
    problem = first_problem(function, saved["expected"], results)
    return results, problem and f"{function} is wrong on this example: {problem}"


def own_cell_note(function, implementation, path=None):
    """For a loop: a note when it gives other values with the student's own cell function."""
    saved = load_data(path)[function]["example"]
    if not saved["cell"]:
        return ""
    try:
        wrong = first_problem(function, saved["expected"], implementation(*saved["args"]))
    except Exception as error:
        wrong = f"{type(error).__name__}: {error}"
    if not wrong:
        return ""
    return (f"\n(This checked {function} with a correct {saved['cell']} standing in for yours. "
            f"With your own {saved['cell']} the values differ: fix {saved['cell']} first.)")


def forward_note(function, forward, path=None):
    """A note when the student's forward function gives other results than a correct one on
    the gradient-check case of `function`; "" when it agrees."""
    saved = load_data(path)[function]["gradient_check"]
    name = saved["forward"]
    try:
        wrong = first_problem(name, saved["forward_expected"], forward(**saved["inputs"]))
    except Exception as error:
        wrong = f"it raised {type(error).__name__}: {error}"
    if not wrong:
        return ""
    return (f"Note: your {name} does not give the correct results on this case: {wrong} "
            f"The check above used the cache of a correct {name}, so it judged {function} "
            f"alone: fix {name} too.\n")


# ---------------------------------------------------------------------------
# Is a function defined in its graded cell?  (what the batch grader reads)
# ---------------------------------------------------------------------------


def _cell_source(function):
    import linecache
    code = getattr(function, "__code__", None)
    lines = linecache.getlines(code.co_filename) if code is not None else []
    return "".join(lines) if lines else None


def _code_cells(path):
    try:
        if path.stat().st_size > 20 * 2**20:
            return None
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    out = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell.get("metadata"), dict) else {}
            out.append((cell.get("cell_type"), source, meta.get("grade_id") if isinstance(meta, dict) else None))
    return out


def cell_problem(name, function, folder="."):
    """None when `function` comes from the one graded cell of `name`; else what is wrong.

    The saved notebook is looked for next to the kernel: the one with a code
    cell whose text is the text that defined `function`.  When no saved
    notebook holds that text (unsaved edits, or a grader that ran the code
    elsewhere), there is nothing to compare and the answer is None.
    """
    if os.environ.get("NBGRADER_EXECUTION", "validate") != "validate":
        return None  # nbgrader autograde: the batch grader reads the cells itself
    live = _cell_source(function)
    if live is None:
        return None
    candidates = []
    session = os.environ.get("JPY_SESSION_NAME")
    if session and session.endswith(".ipynb"):
        candidates.append(Path(session))
    candidates += sorted(Path(folder).glob("*.ipynb"))[:20]
    for path in candidates:
        cells = _code_cells(path) if path.is_file() else None
        if not cells or not any(kind == "code" and src.strip() == live.strip() for kind, src, _ in cells):
            continue
        graded = [(kind, src) for kind, src, grade_id in cells if grade_id == name]
        if not graded:
            return (f"{path.name} has no graded cell for {name} (the cell that starts with "
                    f"'# GRADED FUNCTION: {name}'): the grader reads only that cell. Copy it back "
                    "from the release and write your code in it.")
        if len(graded) > 1:
            return (f"{len(graded)} cells of {path.name} carry the id of {name}'s graded cell "
                    "(a copied cell keeps the id of the original): delete the copies, keep one.")
        kind, src = graded[0]
        if kind != "code" or src.strip() != live.strip():
            return (f"{name} was last defined in another cell, not in its graded cell (the one "
                    f"that starts with '# GRADED FUNCTION: {name}'). The grader reads only that "
                    "cell: move your code there, delete the other definition, save and run again.")
        return None
    return None


# ---------------------------------------------------------------------------
# Quick all-zero arguments, for assert_implemented
# ---------------------------------------------------------------------------


def placeholder_arguments(function, n_x=3, n_a=5, n_y=2, m=4, T_x=3):
    """Arguments of the right types and shapes, all zero, for a quick call."""
    z = np.zeros
    rnn = {"Waa": z((n_a, n_a)), "Wax": z((n_a, n_x)), "Wya": z((n_y, n_a)),
           "ba": z((n_a, 1)), "by": z((n_y, 1))}
    lstm = {k: z((n_a, n_a + n_x)) for k in ("Wf", "Wi", "Wc", "Wo")}
    lstm.update({k: z((n_a, 1)) for k in ("bf", "bi", "bc", "bo")})
    lstm.update({"Wy": z((n_y, n_a)), "by": z((n_y, 1))})
    rnn_cache = (z((n_a, m)), z((n_a, m)), z((n_x, m)), rnn)
    lstm_cache = (z((n_a, m)),) * 8 + (z((n_x, m)), lstm)
    x = z((n_x, m, T_x))
    return {
        "rnn_cell_forward": (z((n_x, m)), z((n_a, m)), rnn),
        "rnn_forward": (x, z((n_a, m)), rnn),
        "lstm_cell_forward": (z((n_x, m)), z((n_a, m)), z((n_a, m)), lstm),
        "lstm_forward": (x, z((n_a, m)), lstm),
        "rnn_cell_backward": (z((n_a, m)), rnn_cache),
        "rnn_backward": (z((n_a, m, T_x)), ([rnn_cache] * T_x, x)),
        "lstm_cell_backward": (z((n_a, m)), z((n_a, m)), lstm_cache),
        "lstm_backward": (z((n_a, m, T_x)), ([lstm_cache] * T_x, x)),
    }[function]


def raises_own_stub(function, args):
    """True when function(*args) stops at a NotImplementedError raised by its own code."""
    import warnings
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            function(*args)
        except NotImplementedError as error:
            tb = error.__traceback__  # only the function's own stub counts
            while tb.tb_next is not None:
                tb = tb.tb_next
            return tb.tb_frame.f_code is getattr(function, "__code__", None)
        except Exception:
            return False
    return False


# ---------------------------------------------------------------------------
# The values of each Expected output table
# ---------------------------------------------------------------------------

# (label, path into the results).  A path is a tuple of keys and indices
# applied one after the other; "len" takes the length, "shape" the shape.
_FORWARD_SHOWN = {
    "rnn_cell_forward": (("a_next[4]", (0, 4)), ("a_next.shape", (0, "shape")),
                         ("yt_pred[1]", (1, 1)), ("yt_pred.shape", (1, "shape"))),
    "rnn_forward": (("a[4][1]", (0, 4, 1)), ("a.shape", (0, "shape")),
                    ("y_pred[1][3]", (1, 1, 3)), ("y_pred.shape", (1, "shape")),
                    ("caches[1][1][3]", (2, 1, 1, 3)), ("len(caches)", (2, "len"))),
    "lstm_cell_forward": (("a_next[4]", (0, 4)), ("a_next.shape", (0, "shape")),
                          ("c_next[2]", (1, 2)), ("c_next.shape", (1, "shape")),
                          ("yt[1]", (2, 1)), ("yt.shape", (2, "shape")),
                          ("cache[1][3]", (3, 1, 3)), ("len(cache)", (3, "len"))),
    "lstm_forward": (("a[4][3][6]", (0, 4, 3, 6)), ("a.shape", (0, "shape")),
                     ("y[1][4][3]", (1, 1, 4, 3)), ("y.shape", (1, "shape")),
                     ("c[1][2][1]", (2, 1, 2, 1)), ("caches[1][1][1]", (3, 1, 1, 1)),
                     ("len(caches)", (3, "len"))),
}
# which entry of each gradient the table shows
_GRADIENT_PICKS = {"dxt": (1, 2), "dx": (1, 2), "da_prev": (2, 3), "da0": (2, 3),
                   "dc_prev": (2, 3), "dba": (4,), "dWax": (3, 1), "dWaa": (1, 2)}
for _g in "fico":
    _GRADIENT_PICKS["dW" + _g] = (3, 1) if _g in "fc" else (1, 2)
    _GRADIENT_PICKS["db" + _g] = (4,)


def shown_paths(function, gradient_keys=None):
    """[(label, path)] of the Expected output table of `function`.

    gradient_keys -- for a backward function, its gradient names in order
    """
    if function in _FORWARD_SHOWN:
        return _FORWARD_SHOWN[function]
    rows = []
    for key in gradient_keys:
        pick_at = _GRADIENT_PICKS[key]
        rows.append((f'gradients["{key}"]' + "".join(f"[{i}]" for i in pick_at), (key,) + pick_at))
        rows.append((f'gradients["{key}"].shape', (key, "shape")))
    return tuple(rows)


def pick(results, path):
    """Follow a SHOWN_VALUES path into a function's results."""
    value = results
    for step in path:
        if step == "shape":
            return tuple(np.shape(value))
        if step == "len":
            return len(value)
        value = value[step]
    return value


def format_value(value):
    """The text the notebook shows for one value."""
    if isinstance(value, (tuple, int)):
        return str(value)
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{float(arr):.12g}"
    return np.array2string(arr, precision=8, separator=" ", max_line_width=10_000)


def shown_values(function, results, gradient_keys=None):
    """[(label, text)] of the Expected output table, read from `results`."""
    rows = []
    for label, path in shown_paths(function, gradient_keys):
        try:
            text = format_value(pick(results, path))
        except Exception as error:  # show what is missing rather than stop
            text = f"<cannot read: {type(error).__name__}: {error}>"
        rows.append((label, text))
    return rows


# ---------------------------------------------------------------------------
# The loss of the gradient check
# ---------------------------------------------------------------------------


def numerical_gradient(f, x, df, eps=1e-5):
    """Centred-difference estimate of the gradient of sum(f(x) * df) with respect to x.

    f   -- function of one array, returning an array
    x   -- point at which to differentiate, any shape; changed during the
           call and restored before it returns
    df  -- upstream gradient, same shape as f(x)
    eps -- step size

    returns an array shaped like x: for each entry i,
        (sum(f(x + eps e_i) * df) - sum(f(x - eps e_i) * df)) / (2 eps)
    """
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + eps
        plus = np.sum(f(x) * df)
        x[i] = saved - eps
        minus = np.sum(f(x) * df)
        x[i] = saved
        grad[i] = (plus - minus) / (2 * eps)
        it.iternext()
    return grad


def loss(function, forward, inputs, upstream):
    """L = sum(a * da) over the states `forward` returns (+ sum(c_next * dc_next) for one
    LSTM step): its gradient with respect to the states is exactly `upstream`."""
    results = forward(**inputs)
    if function == "lstm_cell_backward":
        return np.sum(results[0] * upstream["da_next"]) + np.sum(results[1] * upstream["dc_next"])
    return np.sum(results[0] * upstream["da_next" if "da_next" in upstream else "da"])


def gradient_target(key, inputs):
    """The array a gradient key differentiates: 'dxt' -> inputs['xt'], 'dWax' -> Wax."""
    names = {"dxt": "xt", "dx": "x", "da_prev": "a_prev", "da0": "a0", "dc_prev": "c_prev"}
    return inputs[names[key]] if key in names else inputs["parameters"][key[1:]]


# ---------------------------------------------------------------------------
# Why LSTMs: how much gradient reaches each step of a long sequence
# ---------------------------------------------------------------------------
# The loss depends on the LAST hidden state only, so the upstream gradient
# ``da`` is zero everywhere except at t = T_x - 1.  Walking the backward pass
# from the end to the start gives dL/da<t> for every t, and its size shows
# how much the prediction at the end can still teach the early steps.
#
# Nothing here implements an RNN or an LSTM: the forward and backward
# functions are passed in (the notebook build passes the teacher's reference
# implementation), with the signatures used in the notebook.
#
# Parameter scales (one setting for both networks, so the comparison is fair):
# inputs x ~ N(0, 1), initial state a0 = 0; every weight matrix is N(0, 1)
# times weight_scale / sqrt(fan_in) (fan_in = n_a for Waa, n_x for Wax,
# n_a + n_x for the stacked LSTM matrices); biases 0 except the LSTM
# forget-gate bias bf = forget_bias (+2: Gamma_f starts near sigmoid(2) = 0.88,
# so the memory is mostly carried over); dL/da<T_x - 1> ~ N(0, 1) rescaled to
# norm 1, so every curve starts at 1.  Each RNN step multiplies the gradient by
# Waa^T diag(1 - a^2), whose size is below 1, so the RNN curve falls by orders
# of magnitude over 50 steps; the LSTM's memory line multiplies it only by
# Gamma_f, so it falls far more slowly.

# names of the functions vanishing_gradient_data needs (keyword arguments)
REQUIRED_FUNCTIONS = ("rnn_forward", "rnn_cell_backward", "lstm_forward",
                      "lstm_cell_backward")
# optional: used only to cross-check the step-by-step walk
OPTIONAL_FUNCTIONS = ("rnn_backward", "lstm_backward")


def _scaled_weights(rng, rows, fan_in, scale):
    return rng.standard_normal((rows, fan_in)) * (scale / np.sqrt(fan_in))


def _check_da0(name, walked, backward, da, caches):
    """The walk must agree with the whole-sequence backward on dL/da0."""
    full = backward(da, caches)["da0"]
    if not np.allclose(walked, full, rtol=1e-6, atol=1e-12 * max(1.0, np.abs(full).max())):
        raise ValueError(f"{name}: the step-by-step walk and the whole-sequence backward "
                         "disagree on da0; are the functions from the same implementation?")


def vanishing_gradient_data(*, rnn_forward, rnn_cell_backward, lstm_forward,
                            lstm_cell_backward, rnn_backward=None, lstm_backward=None,
                            T_x=50, seed=0, n_x=8, n_a=64, m=32,
                            weight_scale=1.0, forget_bias=2.0):
    """Norm of dL/da<t> at every step t when L depends on the last step only.

    rnn_forward, rnn_cell_backward, lstm_forward, lstm_cell_backward --
        implementations with the notebook's signatures (keyword arguments)
    rnn_backward, lstm_backward -- optional; when given, their da0 is
        compared with the step-by-step walk (ValueError if they disagree)
    T_x, seed, n_x, n_a, m -- length, seed of a private random stream (the
        global numpy random state is neither read nor changed), sizes
    weight_scale, forget_bias -- see the comment above

    returns (t, rnn_norms, lstm_norms): three float arrays of length T_x;
    t = 0 .. T_x-1 indexes a[:, :, t]; norms are Frobenius norms of the
    (n_a, m) gradient, 1 at t = T_x - 1.
    """
    rng = np.random.RandomState(seed)  # legacy stream: the same on every numpy version
    n_y = 2  # the output layer plays no part in dL/da, any size will do
    x = rng.standard_normal((n_x, m, T_x))
    a0 = np.zeros((n_a, m))
    da_last = rng.standard_normal((n_a, m))
    da_last /= np.linalg.norm(da_last)
    da = np.zeros((n_a, m, T_x))
    da[:, :, -1] = da_last

    rnn_p = {"Waa": _scaled_weights(rng, n_a, n_a, weight_scale),
             "Wax": _scaled_weights(rng, n_a, n_x, weight_scale),
             "Wya": _scaled_weights(rng, n_y, n_a, weight_scale),
             "ba": np.zeros((n_a, 1)), "by": np.zeros((n_y, 1))}
    lstm_p = {}
    for gate in "fico":
        lstm_p["W" + gate] = _scaled_weights(rng, n_a, n_a + n_x, weight_scale)
        lstm_p["b" + gate] = np.zeros((n_a, 1))
    lstm_p["bf"] += forget_bias
    lstm_p["Wy"] = _scaled_weights(rng, n_y, n_a, weight_scale)
    lstm_p["by"] = np.zeros((n_y, 1))

    # RNN: dL/da<t-1> = da_prev of step t, walking from the end
    _, _, caches = rnn_forward(x, a0, rnn_p)
    rnn_norms = np.zeros(T_x)
    grad = da_last
    for t in reversed(range(T_x)):
        rnn_norms[t] = np.linalg.norm(grad)
        grad = rnn_cell_backward(grad, caches[0][t])["da_prev"]
    if rnn_backward is not None:
        _check_da0("RNN", grad, rnn_backward, da, caches)

    # LSTM: the memory gradient dc travels along with da
    _, _, _, caches = lstm_forward(x, a0, lstm_p)
    lstm_norms = np.zeros(T_x)
    grad, grad_c = da_last, np.zeros_like(da_last)
    for t in reversed(range(T_x)):
        lstm_norms[t] = np.linalg.norm(grad)
        step = lstm_cell_backward(grad, grad_c, caches[0][t])
        grad, grad_c = step["da_prev"], step["dc_prev"]
    if lstm_backward is not None:
        _check_da0("LSTM", grad, lstm_backward, da, caches)

    return np.arange(T_x, dtype=float), rnn_norms, lstm_norms
