"""The test cases: defined once, for the notebook's hidden tests and the batch grader.

A case is a seed and a set of sizes.  Its inputs are drawn with
rnn_utils.example_inputs, so seed 1 with the default sizes is the published
example.  Backward functions get caches made by the reference forward pass.
"""
import copy
from dataclasses import dataclass, field

import rnn_utils

from . import assignment

@dataclass(frozen=True)
class Case:
    function: str
    seed: int
    n_x: int = 3
    n_a: int = 5
    n_y: int = 2
    m: int = 10
    T_x: int | None = None  # whole-sequence functions only

    @property
    def sizes(self):
        sizes = {"n_x": self.n_x, "n_a": self.n_a, "n_y": self.n_y, "m": self.m}
        if self.T_x is not None:
            sizes["T_x"] = self.T_x
        return sizes

    def describe(self):
        """How feedback names the case: seed and sizes, nothing else."""
        return f"seed {self.seed}, " + ", ".join(f"{k}={v}" for k, v in self.sizes.items())

    @property
    def key(self):
        return f"{self.function}/seed{self.seed}/" + "/".join(f"{k}{v}" for k, v in self.sizes.items())


def _whole_sequence(function):
    return function in ("rnn_forward", "lstm_forward", "rnn_backward", "lstm_backward")


# Sizes that together catch the mistakes real students make: the published
# shape, T_x = 1 and T_x > 1, n_a = 1, m = 1, and n_x != n_a != n_y.
_SHAPES = (
    dict(seed=1),                                      # the published example
    dict(seed=2),
    dict(seed=3, m=1, T_x=1),
    dict(seed=4, n_x=2, n_a=1, n_y=3, m=4, T_x=3),
    dict(seed=5, n_x=4, n_a=6, n_y=3, m=2, T_x=3),
)


def cases_for(function):
    """All cases of one function, the published one first."""
    out = []
    for spec in _SHAPES:
        spec = dict(spec)
        if _whole_sequence(function):
            spec.setdefault("T_x", rnn_utils.DEFAULT_T_X["lstm" if function.startswith("lstm") else "rnn"])
        else:
            spec.pop("T_x", None)
        out.append(Case(function, **spec))
    return tuple(out)


def all_cases():
    return {name: cases_for(name) for name in assignment.FUNCTIONS}


@dataclass
class Prepared:
    """Everything needed to run one case: arguments and the reference's answers."""
    case: Case
    args: tuple                      # positional arguments of the function
    expected: object                 # what the reference returns
    calls: list = field(default_factory=list)  # [(args, result, aliases)] of the dependency, for the oracle


def _record_calls(dependency_name):
    """Wrap the reference dependency so that every call and its result is kept."""
    real = assignment.reference(dependency_name)
    log = []

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        bound = _bind(dependency_name, args, kwargs)
        log.append((copy.deepcopy(bound), copy.deepcopy(result), aliases(bound, result)))
        return result
    return recording, log


def aliases(args, result, path=()):
    """Where the result holds the very argument objects: [(path in result, argument index)].

    A cache keeps references to its inputs (a_prev, c_prev, xt, parameters);
    the oracle must do the same, or a caller that later writes into an
    argument (a view, say) would not see the damage it does to the cache.
    """
    found = []
    if type(result) in (tuple, list) and len(path) < 3:
        for i, item in enumerate(result):
            hits = [j for j, a in enumerate(args) if item is a]
            if hits:
                found.append((path + (i,), hits[0]))
            else:
                found += aliases(args, item, path + (i,))
    return found


def _bind(function, args, kwargs):
    import inspect
    sig = inspect.signature(assignment.reference(function))
    return tuple(sig.bind(*args, **kwargs).arguments.values())


# Case -> Prepared, loaded from the batch grader's case cache (autograder.grading.casecache), which
# checked that it was made from this teacher notebook by this code.
LOADED = {}


def prepare(case):
    """Draw a case's inputs and compute the reference's outputs and calls (or take them
    from the case cache, when the batch grader loaded it)."""
    found = LOADED.get(case)
    return found if found is not None else compute(case)


def compute(case):
    """Draw a case's inputs and compute the reference's outputs and calls."""
    function = case.function
    inputs = rnn_utils.example_inputs(function, case.seed, **case.sizes)
    if function in rnn_utils.FORWARD_OF:
        forward = assignment.reference(rnn_utils.FORWARD_OF[function])
        cache = forward(**inputs["forward"])[-1]
        if function == "lstm_cell_backward":
            args = (inputs["da_next"], inputs["dc_next"], cache)
        elif function == "rnn_cell_backward":
            args = (inputs["da_next"], cache)
        else:
            args = (inputs["da"], cache)
    else:
        args = tuple(inputs.values())
    reference = assignment.reference(function)
    calls = []
    dependency = assignment.DEPENDS_ON.get(function)
    if dependency:
        # run the reference with a recording copy of its dependency
        recording, calls = _record_calls(dependency)
        ns = dict(reference.__globals__)
        ns[dependency] = recording
        import types
        reference = types.FunctionType(reference.__code__, ns, function)
    expected = reference(*copy.deepcopy(args))
    return Prepared(case, args, expected, calls)
