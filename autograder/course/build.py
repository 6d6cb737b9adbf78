"""Build the nbgrader source and the student release from the teacher notebook.

    python -m autograder build          # rebuild source/ and release/
    python -m autograder build --check  # rebuild in a scratch copy; fail if the committed ones drifted

The build is an explicit, ordered list of small steps, like nbgrader's
preprocessors.  Each step takes the build state and changes one thing:

    ReadTeacher -> WriteExampleData -> FillExpectedOutputs -> DrawFigures
    -> EmbedFigures -> StableCellIds -> WriteSource -> GenerateRelease

Data flows one way: notebooks/ -> source/<assignment>/ -> release/<assignment>/.
The helper files rnn_utils.py and rnn_checks.py are copied from the kit's
root; rnn_example_data.npz is written from the reference solution (what a
correct implementation gives on the published example and on the gradient-
check case), and the Expected output tables are read back from it, so the
numbers the notebook shows and the numbers its checks compare are one fact.

`python -m autograder build` (not --check) also installs the resource-limited
kernel that nbgrader_config.py grades in, as a user kernelspec.
"""
import copy
import filecmp
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import rnn_checks
import rnn_utils

from .. import assignment, cases

ROOT = assignment.ROOT
NAME = assignment.ASSIGNMENT

EXPECTED_MARK = re.compile(r"<!-- expected-output: (\w+) -->")
FIGURE_MARK = re.compile(r"<!-- figure: (\w+) -->")


class BuildError(Exception):
    pass


@dataclass
class Build:
    root: Path                       # course directory being built
    notebook: nbformat.NotebookNode = None
    images: dict = field(default_factory=dict)  # file name -> alt text
    log: callable = print

    @property
    def source_dir(self):
        return self.root / "source" / NAME

    @property
    def release_dir(self):
        return self.root / "release" / NAME


class ReadTeacher:
    """Read notebooks/<assignment>.py (jupytext py:percent)."""

    def __call__(self, build):
        import jupytext
        path = build.root / "notebooks" / f"{NAME}.py"
        if not path.exists():
            raise BuildError(f"{path} is missing: the teacher notebook is the input of the build")
        build.notebook = jupytext.read(str(path), fmt="py:percent")


DATA_FILE = rnn_checks.DATA_NAME
EPS = 1e-5  # step of the centred differences of the gradient checks


def saved_case(case):
    """One case as rnn_checks saves it: the arguments, the reference's results, and the
    calls the reference makes to its cell function (for the stand-in)."""
    prepared = cases.prepare(case)
    return {"args": tuple(prepared.args), "expected": prepared.expected,
            "cell": assignment.DEPENDS_ON.get(case.function, ""),
            "calls": [(tuple(args), result) for args, result, _ in prepared.calls]}


def gradient_case(function):
    """The gradient-check case of a backward function, with its numerical gradients: each
    input and parameter of the reference forward nudged by +-EPS, one entry at a time."""
    sizes = dict(rnn_utils.GRADIENT_CASE)
    seed = sizes.pop("seed")
    if function not in ("rnn_backward", "lstm_backward"):
        sizes.pop("T_x")
    saved = saved_case(cases.Case(function, seed, **sizes))
    drawn = rnn_utils.example_inputs(function, seed, **sizes)
    inputs = drawn.pop("forward")
    forward = assignment.reference(rnn_utils.FORWARD_OF[function])
    numeric = {}
    for key in rnn_utils.GRADIENT_KEYS[function]:
        target = rnn_checks.gradient_target(key, inputs)
        numeric[key] = rnn_checks.numerical_gradient(
            lambda _: rnn_checks.loss(function, forward, inputs, drawn), target, 1.0, EPS)
    saved.update(inputs=inputs, numeric=numeric, forward=rnn_utils.FORWARD_OF[function],
                 forward_expected=forward(**copy.deepcopy(inputs)))
    return saved


def example_data():
    """{function: {"example": saved case[, "gradient_check": saved case]}} from the reference."""
    data = {}
    for function in rnn_utils.FUNCTIONS:
        data[function] = {"example": saved_case(cases.cases_for(function)[0])}
        if function in rnn_utils.FORWARD_OF:
            data[function]["gradient_check"] = gradient_case(function)
    return data


class WriteExampleData:
    """Write source/<assignment>/rnn_example_data.npz: the published example and the
    gradient-check cases, run by the reference solution."""

    def __call__(self, build):
        build.source_dir.mkdir(parents=True, exist_ok=True)
        rnn_checks.save_data(build.source_dir / DATA_FILE, example_data())


def expected_output_table(function, data_path):
    """Markdown table of the values the example test of `function` prints, read from the
    saved example data (the same numbers its check compares)."""
    results = rnn_checks.load_data(data_path)[function]["example"]["expected"]
    rows = ["**Expected output** (computed by the reference solution from the same inputs):", "",
            "| value | expected |", "|---|---|"]
    for label, text in rnn_checks.shown_values(function, results, rnn_utils.GRADIENT_KEYS.get(function)):
        rows.append(f"| `{label}` | `{text}` |")
    return "\n".join(rows)


class FillExpectedOutputs:
    """Replace each expected-output marker with the table of the saved example data."""

    def __call__(self, build):
        path = build.source_dir / DATA_FILE
        for cell in build.notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = EXPECTED_MARK.sub(lambda m: expected_output_table(m.group(1), path),
                                                cell.source)


class DrawFigures:
    """Draw the diagrams and the vanishing-gradient plot into source/<assignment>/images/."""

    def __call__(self, build):
        if str(ROOT) not in sys.path:  # notebooks/ is a folder of the kit, not an installed package
            sys.path.insert(0, str(ROOT))
        from notebooks import figures
        images = build.source_dir / "images"
        if images.exists():
            shutil.rmtree(images)
        images.mkdir(parents=True)
        figures.build(images)
        needs = figures.REQUIRED_FUNCTIONS + figures.OPTIONAL_FUNCTIONS
        data = figures.vanishing_gradient_data(**{k: assignment.reference(k) for k in needs})
        figures.plot_vanishing_gradient(data, images / figures.VANISHING_FILE)
        build.images = dict(figures.ALT_TEXT)


class EmbedFigures:
    """Replace each figure marker with the image and its alt text."""

    def __call__(self, build):
        def embed(match):
            file = match.group(1) + ".png"
            if file not in build.images:
                raise BuildError(f"figure {match.group(1)!r} is not drawn by notebooks/figures "
                                 f"(known: {', '.join(sorted(build.images))})")
            alt = build.images[file].replace('"', "'")
            return f'<img src="images/{file}" alt="{alt}" width="700">'
        for cell in build.notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = FIGURE_MARK.sub(embed, cell.source)


class StableCellIds:
    """Give every cell an id that does not change between builds.

    jupytext makes new random ids on every conversion; nbgrader cells get
    their grade_id and the rest their kind and position.
    """

    def __call__(self, build):
        seen = set()
        for i, cell in enumerate(build.notebook.cells):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            cell_id = grade_id or f"{cell.cell_type}-{i:03d}"
            if cell_id in seen:
                raise BuildError(f"two cells would get the id {cell_id!r}")
            seen.add(cell_id)
            cell["id"] = cell_id
        build.notebook.nbformat, build.notebook.nbformat_minor = 4, 5
        build.notebook.metadata.pop("jupytext", None)


class WriteSource:
    """Write source/<assignment>/<assignment>.ipynb and the kit's helper files next to it."""

    def __call__(self, build):
        for cell in build.notebook.cells:
            if cell.cell_type == "markdown":
                leftover = re.findall(r"<!-- [\w-]+: \w+ -->", cell.source)
                if leftover:
                    raise BuildError(f"markers left unfilled: {leftover}")
        build.source_dir.mkdir(parents=True, exist_ok=True)
        nbformat.validate(build.notebook)
        nbformat.write(build.notebook, str(build.source_dir / f"{NAME}.ipynb"))
        for helper in HELPERS:
            shutil.copyfile(build.root / helper, build.source_dir / helper)


class GenerateRelease:
    """Run the real `nbgrader generate_assignment` to make release/<assignment>/."""

    def __call__(self, build):
        from . import nbgrader_cli
        extra = {} if build.root == ROOT else {"NBGRADER_DB_URL": ""}
        env = None if build.root == ROOT else extra
        nbgrader_cli.run(["generate_assignment", NAME, "--force", "--log-level=WARN"], build.root, env=env)


STEPS = (ReadTeacher(), WriteExampleData(), FillExpectedOutputs(), DrawFigures(), EmbedFigures(),
         StableCellIds(), WriteSource(), GenerateRelease())

# The student's helper files: one copy each at the kit's root, copied into source/ and release/.
HELPERS = ("rnn_utils.py", "rnn_checks.py")
# What a scratch course needs to be built from.
INPUTS = ("notebooks", "nbgrader_config.py") + HELPERS


def build(root=ROOT, log=print):
    state = Build(Path(root), log=log)
    for step in STEPS:
        log(f"[build] {type(step).__name__}")
        step(state)
    return state


def _tree(path):
    return sorted(p.relative_to(path) for p in path.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts)


def drift(root=ROOT, log=print):
    """Rebuild in a scratch course directory and list files that differ from root's."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for name in INPUTS:
            src = Path(root) / name
            if src.is_dir():
                shutil.copytree(src, scratch / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copyfile(src, scratch / name)
        build(scratch, log=log)
        problems = []
        for stage in ("source", "release"):
            fresh, committed = scratch / stage / NAME, Path(root) / stage / NAME
            a, b = _tree(fresh), _tree(committed) if committed.exists() else []
            problems += [f"{stage}/{NAME}/{p}: missing" for p in a if p not in b]
            problems += [f"{stage}/{NAME}/{p}: not produced by the build" for p in b if p not in a]
            problems += [f"{stage}/{NAME}/{p}: differs" for p in a
                         if p in b and not filecmp.cmp(fresh / p, committed / p, shallow=False)]
        return problems


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(prog="python -m autograder build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="rebuild in a scratch directory and fail if source/ or release/ differ")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        if problems:
            print("source/ or release/ is out of date:\n  " + "\n  ".join(problems) +
                  "\nRun `python -m autograder build` and commit the result.", file=sys.stderr)
            return 1
        print("source/ and release/ match a fresh build.")
        return 0
    state = build()
    print(f"Built {state.source_dir.relative_to(ROOT)} and {state.release_dir.relative_to(ROOT)}.")
    from . import kernel
    folder, changed = kernel.install_user()
    print(f"Kernel {kernel.KERNEL_NAME!r} {'installed in' if changed else 'already in'} "
          f"{folder} (nbgrader autograde and validate run in it).")
    return 0
