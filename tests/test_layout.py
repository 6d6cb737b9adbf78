"""The package's layout: one stage per module, one side of the sandbox wall per folder.

The imports are read from the source (every `import` and `from ... import`, including
those inside functions), so a cycle hidden in a function body counts too.
"""
import ast
import re
from pathlib import Path

import pytest

from autograder.grading import runner

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "autograder"


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name):
    """The kit's modules that module `name` imports, anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycle():
    """One import cycle as a list of module names, or None."""
    state, stack = {}, []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for other in sorted(GRAPH[name]):
            if state.get(other) == "open":
                return stack[stack.index(other):] + [other]
            if other not in state:
                cycle = visit(other)
                if cycle:
                    return cycle
        stack.pop()
        state[name] = "done"
        return None

    for name in sorted(GRAPH):
        if name not in state:
            cycle = visit(name)
            if cycle:
                return cycle
    return None


def test_the_import_graph_is_read():
    """Does the reader of imports see the edges it must see (so that the tests below can fail)?"""
    assert "autograder.grading.verdict" in GRAPH["autograder.grading.judge"]
    assert "autograder.sandbox.engine" in GRAPH["autograder.grading.verdict"]
    assert "autograder.grading.runner" in GRAPH["autograder.grading.distributed"]  # in a function


def test_no_module_imports_one_that_imports_it_back():
    """Is the import graph of the package free of cycles, direct or through other modules?"""
    assert find_cycle() is None, " -> ".join(find_cycle())


def test_grader_py_is_gone():
    """Is there no grader.py holding several stages any more?"""
    assert not (PACKAGE / "grader.py").exists()


def test_modules_inside_the_sandbox_import_only_what_is_mounted_there():
    """Do the modules mounted into the sandbox import only modules that are mounted too, and
    never the trusted side (autograder.grading) or the build?"""
    mounted = {module_name(p) for p in runner.CHILD_FILES + [runner.FORKSERVER]
               if p.is_relative_to(PACKAGE)}
    assert "autograder.sandbox.isolation" not in mounted
    for name in sorted(mounted):
        outside = GRAPH[name] - mounted
        assert not outside, f"{name} imports {sorted(outside)}, which the sandbox does not hold"


def test_nothing_outside_the_sandbox_package_runs_student_code_in_a_child():
    """Is the sandbox package the only one the fork server and its children load?"""
    for name in GRAPH["autograder.sandbox.forkserver"] | GRAPH["autograder.sandbox.child"]:
        assert name.startswith("autograder.sandbox."), name


def test_build_time_modules_do_not_reach_the_sandbox():
    """Does the build (course/, but the demo, which runs both graders) stay away from the
    grader's sandbox?"""
    for name in GRAPH:
        if name.startswith("autograder.course.") and name != "autograder.course.demo":
            assert not any(m.startswith(("autograder.sandbox", "autograder.grading"))
                           for m in GRAPH[name]), (name, GRAPH[name])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_says_what_stage_it_is(name):
    """Does every module open with a docstring (the stage it belongs to)?"""
    tree = ast.parse(MODULES[name].read_text())
    assert ast.get_docstring(tree), f"{MODULES[name].relative_to(ROOT)} has no docstring"


def readme_map():
    """The paths the README's package map names, relative to the repository."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- package map -->\n```\n(.*?)```", text, re.S)
    assert block, "README.md has no package map (<!-- package map --> and a code block)"
    paths, folders = [], []
    for line in block.group(1).splitlines():
        match = re.match(r"^( *)(\S+)", line)
        if not match:
            continue
        depth, entry = len(match.group(1)) // 2, match.group(2)
        folders = folders[:depth]
        if entry.endswith("/"):
            folders.append(entry.rstrip("/"))
        paths.append("/".join(folders + ([] if entry.endswith("/") else [entry])))
    return paths


def test_the_readme_map_matches_the_tree():
    """Does the README's package map name every module and folder of autograder/, and
    nothing that is not there?"""
    named = set(readme_map())
    real = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    real |= {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*") if p.is_dir()
             and p.name != "__pycache__"}
    real.add("autograder")
    assert named - real == set(), "the map names what is not in the tree"
    assert real - named == set(), "the tree holds what the map does not name"


def test_the_student_helper_is_short():
    """Can a student read rnn_utils.py in one sitting (under 250 lines)?"""
    lines = (ROOT / "rnn_utils.py").read_text().count("\n")
    assert lines < 250, f"rnn_utils.py has {lines} lines"
