"""The main job: build the release, grade the bundled sample submissions, print the scores.

    python -m autograder demo

1. builds source/ and release/ from the teacher notebook (python -m autograder build);
2. writes the sample submissions (autograder.course.samples) to submitted/, nbgrader's layout;
3. grades them with `nbgrader autograde`, which fills the gradebook;
4. grades them again with the sandboxed batch grader, which writes grading-output/
   (results.json, grades.csv, feedback/, report/);
5. prints the class's per-function scores and whether the two graders agree.
"""
import shutil
import sys

from .. import assignment
from ..grading import cli
from . import build, nbgrader_cli, samples

ROOT = assignment.ROOT
NAME = assignment.ASSIGNMENT


def nbgrader_scores(course):
    """{student: {function: score}} as nbgrader autograde recorded them."""
    from nbgrader.api import Gradebook
    from ..grading.settings import course_config
    out = {}
    with Gradebook(course_config(course)["db_url"]) as gb:
        for student in samples.SAMPLES:
            out[student] = {f: gb.find_grade(assignment.test_cell_id(f), NAME, NAME, student).score
                            for f in assignment.FUNCTIONS}
    return out


def main(argv):
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    from . import kernel
    kernel.install()  # nbgrader_config.py grades in this kernel
    say("== 1. build source/ and release/ from notebooks/")
    build.build(ROOT, log=lambda msg: None)
    say("== 2. write the sample submissions to submitted/")
    submitted = ROOT / "submitted"
    for student in samples.SAMPLES:
        shutil.rmtree(submitted / student, ignore_errors=True)
    samples.write_submissions(submitted, ROOT / "release" / NAME / f"{NAME}.ipynb")
    say(f"   {len(samples.SAMPLES)} students: {', '.join(samples.SAMPLES)}")
    say("== 3. nbgrader autograde (unisolated, student code runs as you)")
    nbgrader_cli.run(["autograde", NAME, "--create", "--force", "--log-level=WARN"], ROOT)
    theirs = nbgrader_scores(ROOT)
    say("== 4. python -m autograder grade submitted --out grading-output (sandboxed)")
    out = ROOT / "grading-output"
    status = cli.main([str(submitted), "--out", str(out)])
    if status != 0:
        return status
    import json
    ours = json.loads((out / "results.json").read_text())["students"]
    same = sum(theirs[s][f] == ours[s]["functions"][f]["score"]
               for s in samples.SAMPLES for f in assignment.FUNCTIONS)
    total = len(samples.SAMPLES) * len(assignment.FUNCTIONS)
    print(f"\nnbgrader autograde and the batch grader agree on {same} of {total} function scores.")
    wrong = [s for s in samples.SAMPLES
             if {f for f, r in ours[s]["functions"].items() if not r["passed"]} != samples.EXPECTED_FAILURES[s]]
    print("Every sample lost exactly the functions it was written to lose." if not wrong
          else f"UNEXPECTED results for: {', '.join(wrong)}")
    return 0 if same == total and not wrong else 1
