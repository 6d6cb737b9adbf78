"""Run one student function on prepared cases and record what it returns.

This module runs untrusted code.  It is used in two places:
- inside the notebook kernel by the hidden tests (autograder.notebook), and
- inside the sandboxed child of the batch grader (autograder.sandbox.child).
It only *observes*: results are flattened into plain arrays
(autograder.sandbox.structure); judging them is left to autograder.grading.verdict.

Each function is run twice per case when it calls another graded function:
- "oracle": that other function is replaced by an oracle that answers the
  calls a correct implementation makes with the reference's answers, so a
  mistake in the other function is not charged here;
- "own": with the student's own other function.
"""
import builtins
import contextlib
import dis
import hashlib
import io
import itertools
import json
import operator
import os
import pickle
import struct
import sys
import warnings

import numpy as np

from . import structure
# Imported before any student code runs, so that the oracle's comparison is
# bound to the real numpy functions even if a student cell replaces them.
from .compare import _same_bits, matches

MODES = ("oracle", "own")
# Global seeds used to detect a dependence on the global random state.
SEEDS = (0, 12345)

# What student code may patch but must not leave patched: the engine itself
# (isinstance, type, np.array, np.random.seed, import numpy...) runs right after
# it in the same process.  Taken when this module is first imported.
_GUARDED = [(vars(builtins), dict(vars(builtins))), (vars(np), dict(vars(np))),
            (vars(np.random), dict(vars(np.random))), (sys.modules, dict(sys.modules))]
_OWNER = [None]  # pid of the process that called observe()
# The builtins _restore and _defined_quietly use, bound before student code can replace them.
_is, _map, _all, _len, _type, _repeat = operator.is_, map, all, len, type, itertools.repeat


def _restore():
    """Run after student code: a process it forked leaves at once (it must not go on with the
    grader's work, e.g. write results next to the real ones); in the real one, put back every
    guarded name that student code rebound or deleted (additions stay)."""
    if _OWNER[0] is not None and os.getpid() != _OWNER[0]:
        os._exit(0)
    for live, saved in _GUARDED:
        # fast path, keys and values by identity and in order (never ==, which student
        # objects can fake): nothing was added, removed, rebound or reordered
        if _len(live) == _len(saved) and _all(_map(_is, live.values(), saved.values())) and \
                _all(_map(_is, live, saved)):
            continue
        for key, value in saved.items():
            if live.get(key, _restore) is not value:
                live[key] = value
        # Now every guarded name has its own value again.  What student code added stays, and
        # from now on counts as guarded too; the snapshot takes the live order, so that the
        # next check can take the fast path.
        saved.clear()
        saved.update(live)


class Interrupt(BaseException):
    """Raised by the runner (e.g. a timer) when the time is up.  Student code cannot turn it
    into a result: observe() stops there and records a TimeoutError for what was not run."""


class OracleMismatch(Exception):
    """A loop function called its cell function with unexpected arguments."""


def _bind(dependency, param_names, args, kwargs):
    """The arguments of a call of the stand-in, in parameter order (TypeError as Python's)."""
    bound = list(args)
    for name in param_names[len(args):]:
        if name not in kwargs:
            raise TypeError(f"{dependency}() missing argument {name!r}")
        bound.append(kwargs.pop(name))
    if kwargs or len(bound) != len(param_names):
        raise TypeError(f"{dependency}() takes {len(param_names)} arguments "
                        f"({', '.join(param_names)})")
    return bound


def _mismatch(function, dependency, detail=None):
    # detail ("call 3 differs in a_prev") names arguments, never values: the grader matches
    # it against the known mistakes
    return OracleMismatch(
        f"{function} called {dependency} with arguments that a correct {function} never "
        f"passes (check what you give it at each step)" + (f": {detail}" if detail else ""))


def answer_call(table, got, position):
    """The recorded call whose arguments match `got` (flattened under "in"), trying the one
    at `position` first (a correct loop makes them in order): (result, aliases, next
    position), or None.  table -- _oracle_table(calls)"""
    n = len(table)
    start = position if type(position) is int and 0 <= position < n else 0
    for k in range(n):
        want, result, alias = table[(start + k) % n]
        if matches(want, got):
            return result, alias, (start + k + 1) % n
    return None


def make_oracle(function, dependency, param_names, calls, case=None):
    """A stand-in for `dependency` that answers only the calls a correct loop makes.

    calls -- [(args tuple, result, aliases)] recorded from the reference, where
             aliases lists the (path in result, argument index) at which the
             reference returns the argument object itself (as a cache does)

    It holds every answer: use it only where student code may see them anyway (the
    notebook's hidden tests).  The batch grader's children get remote_oracle instead."""
    table = _oracle_table(calls)
    position = [0]
    calls_made = [0]

    def oracle(*args, **kwargs):
        bound = _bind(dependency, param_names, args, kwargs)
        try:
            got = structure.flatten(tuple(bound), "in", copy=False)  # compared at once
        except structure.TooLarge as error:
            raise OracleMismatch(str(error)) from None
        calls_made[0] += 1
        found = answer_call(table, got, position[0])
        if found is None:
            raise _mismatch(function, dependency, _first_difference(
                table[position[0]][0], got, param_names, calls_made[0]))
        result, alias, position[0] = found
        return _with_aliases(structure.copy(result), alias, bound)
    oracle.__name__ = dependency
    return oracle


def _with_aliases(answer, alias, bound):
    for path, index in alias:
        answer = _put(answer, path, bound[index])
    return answer


MAX_ORACLE_MESSAGE = 150_000  # below a Unix socket's default buffer: one message each way


def remote_oracle(ask):
    """A maker of stand-ins that hold no answer: each call is sent, as plain arrays, to
    trusted code that holds the recorded calls and checks the arguments (see
    autograder/sandbox/forkserver.py, the oracle process), through ask(request bytes) -> reply
    bytes.  Returns make(function, dependency, param_names, calls, case) like make_oracle."""
    def make(function, dependency, param_names, calls, case):
        position = [0]
        calls_made = [0]

        def oracle(*args, **kwargs):
            bound = _bind(dependency, param_names, args, kwargs)
            calls_made[0] += 1
            try:
                got = structure.flatten(tuple(bound), "in", copy=False)  # sent at once
                request = oracle_request(function, case, position[0], calls_made[0],
                                         param_names, got)
            except (structure.TooLarge, TypeError) as error:
                raise OracleMismatch(str(error)) from None
            if len(request) > MAX_ORACLE_MESSAGE:
                raise _mismatch(function, dependency)
            kind, answer, detail = _read_reply(ask(request))
            if kind == "e#":
                raise _mismatch(function, dependency,
                                answer[:200] if type(answer) is str and answer != "mismatch" else None)
            alias, position[0] = detail
            return _with_aliases(answer, alias, bound)
        oracle.__name__ = dependency
        return oracle
    return make


_QUERY_SIZE = struct.Struct("<I")


_QUERY_ENDS = {}  # (function, param_names) -> their JSON texts, the ends of every query


def oracle_request(function, case, position, number, param_names, got):
    """The bytes of one remote_oracle request: the query (which call of which case this is,
    as JSON, after its length), then the arguments `got` (flattened under "in") as
    structure.dumps bytes."""
    if type(case) is int and type(position) is int and type(number) is int and \
            type(function) is str and type(param_names) is tuple:
        # What json.dumps writes, with the ends made once: a case's stand-in sends the same
        # function and names every call (the position comes back from the oracle, so only
        # an int is written here; whatever else a forged reply makes it goes to json.dumps)
        ends = _QUERY_ENDS.get((function, param_names))
        if ends is None:
            if len(_QUERY_ENDS) > 256:
                _QUERY_ENDS.clear()
            ends = _QUERY_ENDS[(function, param_names)] = \
                (json.dumps([function])[:-1], json.dumps([list(param_names)])[1:])
        query = f"{ends[0]}, {case}, {position}, {number}, {ends[1]}".encode()
    else:
        query = json.dumps([function, case, position, number, list(param_names)]).encode()
    return _QUERY_SIZE.pack(len(query)) + query + structure.dumps(got)


def _arguments_digest(body):
    return hashlib.blake2b(body, digest_size=32).digest()


def oracle_case(calls):
    """What the trusted side of remote_oracle keeps of one case: (_oracle_table(calls), the
    reply bytes to each recorded call, made once, and the digest of the arguments of each
    call as a child sends them, or None where they are not all finite)."""
    table = _oracle_table(calls)
    replies = [_reply("ok", result, (alias, (k + 1) % len(table)))
               for k, (_, result, alias) in enumerate(table)]
    exact = [_arguments_digest(structure.dumps(want)) if _finite(want) else None
             for want, _, _ in table]
    return table, replies, exact


def _finite(flat):
    return all(bool(np.isfinite(v).all()) for v in flat.values() if not isinstance(v, str))


# The replies go one way only, from the trusted oracle to a child, and are pickled: the
# child reads them back in a few microseconds.  Nothing trusted ever unpickles what a
# child sends (the requests are structure.dumps bytes, read with structure.loads).  Forged
# replies could only come from student code in the child itself, which harms no one else.
_pickle_dumps, _pickle_loads = pickle.dumps, pickle.loads


def _reply(kind, answer, detail=None):
    """Reply bytes: ("ok", the reference's result, (aliases, next position)) or ("e#", why)."""
    return _pickle_dumps((kind, answer, detail), protocol=5)


def _read_reply(data):
    """(kind, answer, detail) of an oracle reply (see _reply); a reply that is not one
    is read as a refusal."""
    try:
        reply = _pickle_loads(data)
    except Exception:  # noqa: BLE001 -- only student code in this very child could forge it
        return "e#", "mismatch", None
    if type(reply) is not tuple or len(reply) != 3:
        return "e#", "mismatch", None
    return reply


_NO_ANSWER = _reply("e#", "mismatch")


def serve_oracle_request(tables, request):
    """Trusted side of remote_oracle: the reply bytes to one request (oracle_request).
    tables -- {function: [oracle_case(calls) of each case]}

    A correct loop sends the very bits of the recorded call it is at: those are known by
    their digest, without reading the arguments (the answer is the one answer_call would
    give, whose first try is that call and whose test passes on the same finite bits).
    Any other request is read and matched within the tolerance."""
    table = got = position = number = names = None
    try:
        (size,) = _QUERY_SIZE.unpack_from(request)
        function, case, position, number, names = json.loads(request[4:4 + size])
        body = request[4 + size:]
        table, replies, exact = tables[function][case] if type(case) is int and case >= 0 \
            else (None, None, None)
        if table and type(position) is int and 0 <= position < len(table) and \
                exact[position] is not None and exact[position] == _arguments_digest(body):
            return replies[position]
        got = structure.loads(body)
        found = answer_call(table, got, position) if table else None
    except Exception:  # noqa: BLE001 -- whatever student code sent
        found = None
    if found is None:
        return _difference_reply(table, got, position, number, names) \
            if table and got is not None else _NO_ANSWER
    return replies[(found[2] - 1) % len(table)]


def _difference_reply(table, got, position, number, names):
    """The mismatch reply naming the arguments that differ (names only, never values)."""
    try:
        if type(number) is not int or type(position) is not int or not 0 <= position < len(table) \
                or type(names) is not list or len(names) > 16 or \
                not all(type(n) is str and n.isidentifier() and len(n) <= 40 for n in names):
            return _NO_ANSWER
        return _reply("e#", _first_difference(table[position][0], got, names, number))
    except Exception:  # noqa: BLE001 -- whatever student code sent
        return _NO_ANSWER


def _first_difference(want, got, param_names, number):
    """Which arguments of call `number` differ from the call a correct loop makes there
    (the grader matches this text against the known mistakes)."""
    names = [name for j, name in enumerate(param_names)
             if not matches({k: v for k, v in want.items() if k.startswith(f"in[{j}]")},
                            {k: v for k, v in got.items() if k.startswith(f"in[{j}]")})]
    return f"call {number} differs in {', '.join(names) or 'its arguments'}"


def _put(obj, path, value):
    """A copy of nested tuples/lists obj with the item at path replaced by value."""
    items = list(obj)
    items[path[0]] = value if len(path) == 1 else _put(items[path[0]], path[1:], value)
    return type(obj)(items)


_CACHE = {}  # id(case object) -> (the object, what was made of it)


def _cached(obj, make):
    """make() for a case's inputs or oracle calls, made once per process: they are never
    changed (the student's function gets a copy), and warm() makes them before the fork
    server forks, so every child shares them."""
    hit = _CACHE.get(id(obj))
    if hit is None or hit[0] is not obj:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        hit = _CACHE[id(obj)] = (obj, make())
    return hit[1]


def warm(cases):
    """Flatten, once, the inputs and oracle calls of cases ([(args, calls, param_names)])."""
    for args, calls, _ in cases:
        _inputs(args)
        if calls is not None:
            _oracle_table(calls)


def _oracle_table(calls):
    """[(flattened arguments, result, aliases)] of the recorded calls, for make_oracle."""
    return _cached(calls, lambda: [(structure.flatten(tuple(args), "in"), result, alias)
                                   for args, result, alias in calls])


def _inputs(args):
    """The flattened inputs of a case, and structure.values() of them, to find out whether
    the function changed its copy."""
    def make():
        flat = structure.flatten(args, "in")
        return flat, structure.values(flat)
    return _cached(args, make)


_COMPILED = {}
_SOURCE_OF = {}  # "<cell name>" -> the source last compiled under that name (for _where)
PRECOMPILE_MAX_CHARS = 256 * 1024


def precompile(setup, sources):
    """Fill the compile cache with every cell of one submission, so that the children forked
    afterwards (see autograder/sandbox/forkserver.py) share the code objects.  Compiling
    runs no student code; a cell that does not compile, or is too large to compile here, is
    left for the run itself to compile and report."""
    for name, source in [("setup", setup), *sources.items()]:
        if isinstance(source, str) and len(source) <= PRECOMPILE_MAX_CHARS:
            try:
                _compile(source, "<setup>" if name == "setup" else f"<cell {name}>")
            except Exception:  # noqa: BLE001 -- SyntaxError, RecursionError, MemoryError...
                pass


def _compile(source, filename):
    """compile() with a small cache: the same cells are run for every function."""
    key = (source, filename)
    _SOURCE_OF[filename] = source
    code = _COMPILED.get(key)
    if code is None:
        if len(_COMPILED) > 256:
            _COMPILED.clear()
        if len(_DEFINES) > 256:
            _DEFINES.clear()
        code = _COMPILED[key] = compile(source, filename, "exec")
        _DEFINES[key] = _only_defines(code)
    return code


# What the top level of a cell may do for it to run without _quiet, the cell clock and
# _restore around it (see build_namespace): load constants (the functions' code objects,
# docstrings, numbers), make functions with no defaults, annotations or closure (no
# decorator either: that is a call) and bind names.  None of these runs any code of the
# student's; the functions they make run only when called.
_DEFINING = frozenset(dis.opmap[name] for name in (
    "RESUME", "NOP", "LOAD_CONST", "MAKE_FUNCTION", "STORE_NAME", "POP_TOP", "RETURN_VALUE",
    "RETURN_CONST", "CACHE") if name in dis.opmap)  # (CACHE: the room an instruction keeps)
_MAKE_FUNCTION, _STORE_NAME = dis.opmap["MAKE_FUNCTION"], dis.opmap["STORE_NAME"]
_DEFINES = {}  # (source, filename) -> the names its top level binds, if it only defines; else None


def _only_defines(code):
    """The names the top level of `code` binds, when it does nothing else (see _DEFINING);
    else None.  Read from the bytes of the code, two a instruction (opcode, argument): any
    instruction that is not in _DEFINING, EXTENDED_ARG included, makes it None."""
    names = []
    raw = code.co_code
    for at in range(0, len(raw) - 1, 2):
        op, arg = raw[at], raw[at + 1]
        if op not in _DEFINING or (op == _MAKE_FUNCTION and arg):
            return None
        if op == _STORE_NAME:
            names.append(code.co_names[arg])
    return tuple(names)


def _defined_quietly(ns, source, filename):
    """Run a cell that only defines functions into ns, if it is compiled already and nothing
    of the student's can run while it does, and say whether it was run.

    Such a cell needs no _quiet, no cell clock and no _restore: it can print nothing, warn
    about nothing (it is not compiled now) and rebind nothing guarded, and takes a few
    microseconds.  What else runs while the interpreter binds its names is a lookup in ns
    (keys that are all exact str are compared by the interpreter alone, never by their own
    __eq__) and nothing at all when no name it binds was bound before (a rebinding drops the
    old value, whose __del__ would run).  The code that runs outside the calls of student
    code anyway (a __del__ left to the garbage collector, a thread or a signal handler that
    student code started) is no more able to run here than in the engine's own code."""
    key = (source, filename)
    code = _COMPILED.get(key)
    names = _DEFINES.get(key) if code is not None else None
    if names is None or not _all(_map(_is, _map(_type, ns), _repeat(str))):
        return False
    for name in names:
        if name in ns:
            return False
    _SOURCE_OF[filename] = source
    exec(code, ns)
    return True


#: Set by a runner that times functions (autograder/sandbox/forkserver.py): cell(name, function) is
#: a context manager around the top-level code of cell `name` while `function` is graded,
#: which charges the time of another function's cell to that cell (see CellTimeout).
CELL_CLOCK = [None]
_SLOW_CELLS = {}  # (cell name, source) -> error text, of cells whose top level ran out of time


class CellTimeout(Exception):
    """The top-level code of another function's cell ran out of its own time: that cell
    fails (its function is charged), the function being graded goes on."""


def build_namespace(setup, sources, function=None):
    """Run the setup cell and every solution cell in a fresh namespace.

    returns (namespace, {cell name: error text}) -- a cell that fails to run
    only costs its own function.  With CELL_CLOCK set, a cell whose top-level code
    ran out of time once is not run again in this process (it keeps its error).
    A cell that only defines functions (as most do) is run without _quiet, the cell
    clock and _restore, which it cannot need (_defined_quietly).
    """
    ns = {"__name__": "__submission__"}
    exec(_compile(setup, "<setup>"), ns)
    errors = {}
    clock = CELL_CLOCK[0]
    for name, source in sources.items():
        slow = _SLOW_CELLS.get((name, source)) if clock is not None else None
        if slow is not None:
            errors[name] = slow
            continue
        try:
            if _defined_quietly(ns, source, f"<cell {name}>"):
                continue
            with _quiet():
                try:
                    with (clock(name, function) if clock is not None else contextlib.nullcontext()):
                        exec(_compile(source, f"<cell {name}>"), ns)
                finally:
                    _restore()
        except CellTimeout as error:
            errors[name] = _SLOW_CELLS[(name, source)] = f"TimeoutError: {error}"
        except Interrupt:
            raise
        except BaseException as error:  # noqa: BLE001 -- SystemExit included
            errors[name] = _describe(error)
    return ns, errors


class _quiet:
    """Swallow prints and warnings of student code (stderr would cost marks in nbgrader).

    A class rather than a contextlib generator: it is entered around every piece of student
    code, a few hundred times a submission, and this costs about half as much."""
    __slots__ = ("warnings", "errstate", "stdout", "stderr")

    def __enter__(self):
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        try:
            warnings.simplefilter("ignore")
            self.errstate = np.errstate(all="ignore")
            self.errstate.__enter__()
        except BaseException:
            self.warnings.__exit__(*sys.exc_info())
            raise
        self.stdout, self.stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = _Capped(io.StringIO())
        return self

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.stdout, self.stderr
        try:
            self.errstate.__exit__(*exc)
        finally:
            self.warnings.__exit__(*exc)
        return False


class _Capped(io.TextIOBase):
    """A text sink that keeps at most a few kilobytes."""

    def __init__(self, sink, cap=4096):
        self.sink, self.cap = sink, cap

    def write(self, text):
        if self.sink.tell() < self.cap:
            self.sink.write(str(text)[: self.cap])
        return len(text)


def _where(error):
    """{"where#": "cell:line:function:kind"} of the innermost frame of student code in the
    traceback of `error` (kind "print" when that line is a print call), or {}."""
    import types
    try:
        tb = BaseException.__dict__["__traceback__"].__get__(error)
        found = None
        while type(tb) is types.TracebackType:
            code = tb.tb_frame.f_code
            if type(code.co_filename) is str and code.co_filename.startswith("<cell "):
                found = (code.co_filename, int(tb.tb_lineno), str(code.co_name))
            tb = tb.tb_next
        if found is None:
            return {}
        filename, line, name = found
        lines = _SOURCE_OF.get(filename, "").splitlines()
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        kind = "print" if text.startswith("print(") else ""
        return {"where#": f"{filename[6:-1]}:{line}:{name[:80]}:{kind}"}
    except Exception:  # noqa: BLE001 -- a location is a bonus, never a reason to fail
        return {}


def _describe(error):
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 500 else text[:500] + "..."


def observe(function, dependency, setup, sources, cases, modes=None, oracle=None):
    """Run `function` on every case and return a flat dict of observations.

    function -- name of the graded function
    dependency -- name of the graded function it calls, or None
    setup -- source of the setup cell
    sources -- {function name: student cell source}
    cases -- [(args tuple, calls, param_names of dependency)]
    modes -- the runs to make, a subset of MODES (default: every run the function has)
    oracle -- make(function, dependency, param_names, calls, case index) of the stand-in
              (default make_oracle; the batch grader's children use remote_oracle)

    Keys: "c{i}/{mode}/out..." for results, "c{i}/{mode}/error#" for an
    exception and "c{i}/{mode}/where#" for the line of student code that raised
    it, "c{i}/{mode}/mutated#" when the inputs were changed, and
    "random#" when two runs under different global seeds disagree.  Each mode
    gets one fresh namespace for all its cases.
    """
    obs = {}
    _OWNER[0] = os.getpid()
    every = MODES if dependency else ("oracle",)
    modes = every if modes is None else tuple(m for m in every if m in modes)
    for m, mode in enumerate(modes):
        at = [0]  # the case being run
        try:
            _observe_mode(obs, at, function, dependency, setup, sources, cases, mode,
                          oracle or make_oracle)
        except Interrupt as stop:
            # The time ran out.  Keep the runs made so far: an endless loop in the
            # student's own cell function, met in the "own" run, must not cost the
            # loop function its "oracle" results.  Say why the rest has no results.
            text = f"TimeoutError: {stop}"
            for j in range(at[0], len(cases)):
                obs[f"c{j}/{mode}/error#"] = text
            for later in modes[m + 1:]:
                for j in range(len(cases)):
                    obs[f"c{j}/{later}/error#"] = text
            break
    return obs


def _observe_mode(obs, at, function, dependency, setup, sources, cases, mode, oracle):
    """One run ("oracle" or "own") of `function` on every case, into obs; at[0] is the case."""
    ns, cell_errors = build_namespace(setup, sources, function)
    fn = ns.get(function)
    for i, (args, calls, param_names) in enumerate(cases):
        at[0] = i
        prefix = f"c{i}/{mode}/"
        if function in cell_errors:
            obs[prefix + "error#"] = "the cell does not run: " + cell_errors[function]
            continue
        if not callable(fn):
            obs[prefix + "error#"] = f"no function named {function} is defined"
            continue
        if mode == "oracle" and dependency:
            ns[dependency] = oracle(function, dependency, param_names, calls, i)
        flat, error = _call(fn, structure.copy(args), SEEDS[0], mutated_check=_inputs(args),
                            prefix=prefix)
        if error:
            obs[prefix + "error#"] = error
            obs.update(flat or {})  # where# of the error
        else:
            obs.update(flat)
        if i == 0 and mode == "oracle" and not error:
            if dependency:
                ns[dependency] = oracle(function, dependency, param_names, calls, i)
            again, error2 = _call(fn, structure.copy(args), SEEDS[1], copy=False, prefix=prefix)
            if error2 or not _same(flat, again):  # (again compared at once: not copied)
                obs["random#"] = "results change with the global random state"


def _call(fn, args, seed, mutated_check=None, copy=True, prefix=""):
    """Call fn(*args) with the global seed set; return (flat results, None), or
    ({"where#": location} or {}, error text) when it raised, every key after `prefix`.
    copy -- as structure.flatten's: False for results compared at once, before any other
    student code runs."""
    np.random.seed(seed)
    try:
        with _quiet():
            try:
                result = fn(*args)
            finally:
                _restore()
        flat = structure.flatten(result, copy=copy, prefix=prefix)
        if mutated_check is not None:
            inputs, expected = mutated_check
            # The copy is walked and compared as it goes: when it holds the very bits it
            # was given (almost always), its flattening is `inputs`.  Else that flattening is
            # made and compared, as when the copy was changed, or holds something unusual.
            if not structure.unchanged(args, expected):
                after = structure.flatten(args, "in", copy=False)  # compared at once
                if not _same(inputs, after):
                    flat[prefix + "mutated#"] = "the function changed its input arrays"
        return flat, None
    except RecursionError:
        return None, "RecursionError: maximum recursion depth exceeded"
    except BaseException as error:  # noqa: BLE001 -- sys.exit() must not end the run
        if isinstance(error, (KeyboardInterrupt, Interrupt)):
            raise
        return {prefix + k: v for k, v in _where(error).items()}, _describe(error)


def _same(a, b):
    """Do two flattened results hold the same markers and arrays (NaN equal to NaN)?"""
    if list(a) == list(b):
        # the same keys in the same order (two flattenings of one structure): compared by
        # their text, then the values in turn, without a lookup each
        pairs = zip(a.values(), b.values())
    elif a.keys() != b.keys():
        return False
    else:
        pairs = ((x, b[k]) for k, x in a.items())
    ndarray = np.ndarray
    for x, y in pairs:
        if type(x) is ndarray and type(y) is ndarray:  # (what flatten makes of an array)
            if x.shape != y.shape:
                return False
            if (x.dtype is y.dtype or x.dtype == y.dtype) and x.tobytes() == y.tobytes():
                continue  # the same bits (_same_bits, written out): equal, and cheap to see
            if not np.array_equal(x, y, equal_nan=True):
                return False
        elif isinstance(x, str) or isinstance(y, str):
            if x != y:
                return False
        elif x.shape != y.shape:
            return False
        elif _same_bits(x, y):
            continue  # the same bits: equal (the common case, and far cheaper to see)
        elif not np.array_equal(x, y, equal_nan=True):
            return False
    return True
