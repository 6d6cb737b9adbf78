"""The hidden tests of the notebook call check(name, globals()).

check() runs the student's function exactly as the batch grader does (same
cases, same clean namespace, same oracle for the function it calls, same
comparisons), but inside the notebook kernel, so nbgrader can grade it.
On failure it raises an AssertionError whose message names the case (seed
and sizes), the output, the error and the likely mistake -- never test code.
"""
import linecache

from . import assignment
from .sandbox import engine
from .grading import verdict


def _cell_source(function):
    """Whole source of the notebook cell that defined `function`."""
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    lines = linecache.getlines(code.co_filename)
    return "".join(lines) if lines else None


def student_sources(namespace):
    """{graded function name: source of the cell that defined it} from a kernel namespace."""
    sources = {}
    for name in assignment.FUNCTIONS:
        source = _cell_source(namespace.get(name))
        if source is not None:
            sources[name] = source
    return sources


class HiddenTestFailed(AssertionError):
    pass


def check(function, namespace):
    """Grade one function of the running notebook; raise HiddenTestFailed if it fails."""
    sources = student_sources(namespace)
    if function not in sources:
        raise HiddenTestFailed(f"{function} is not defined: run its cell first")
    obs = engine.observe(function, assignment.DEPENDS_ON.get(function), assignment.setup_source(),
                         sources, verdict.make_cases_payload(function))
    result = verdict.judge(function, obs)
    if not result.passed:
        raise HiddenTestFailed("\n" + result.message) from None
    print(f"{function}: {result.message}")
