"""nbgrader settings for the course.  Every setting is declared here once.

No assignment is pinned here: nbgrader's commands take it as their argument,
as nbgrader's documentation shows them:

    nbgrader generate_assignment rnn_step_by_step
    nbgrader autograde rnn_step_by_step --create
    nbgrader generate_feedback rnn_step_by_step
    nbgrader export

The batch grader (`python -m autograder grade`) grades the kit's one assignment,
autograder.assignment.ASSIGNMENT, unless it is given --assignment.
"""
import os
import sys

c = get_config()  # noqa: F821 (provided by nbgrader)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "rnn-step-by-step"
c.CourseDirectory.root = HERE
# SQLite by default.  Point at PostgreSQL with e.g.
#   export NBGRADER_DB_URL=postgresql://user:password@host/gradebook
c.CourseDirectory.db_url = (os.environ.get("NBGRADER_DB_URL")
                            or "sqlite:///" + os.path.join(HERE, "gradebook.db"))

# release/ is committed (and drift-checked against a fresh build), so without
# this `nbgrader generate_assignment rnn_step_by_step` would say "Skipping existing
# assignment" and never enter the assignment in the gradebook, and autograde would
# then stop with "No assignment with ID ... exists in the database".
c.GenerateAssignment.force = True

# What a student finds between START CODE HERE and END CODE HERE.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\n"
              "raise NotImplementedError(\"Not implemented yet: write your code between "
              "START CODE HERE and END CODE HERE, then run this cell again.\")"
}
# Students may not change the tests or the setup cells.
c.LockCells.lock_grade_cells = True
c.LockCells.lock_readonly_cells = True

# nbgrader autograde runs student code unisolated, as you.  Run it at least in
# a kernel with memory, CPU-time and process limits (install it once with
# `python -m autograder kernel install`; `python -m autograder demo` and the
# tests install it too); `python -m autograder grade` is the sandboxed grader.
LIMITED_KERNEL = "rnn-step-by-step-limited"


def kernel_installed(name):
    """Is a kernelspec called `name` in one of Jupyter's kernel folders?"""
    from jupyter_core.paths import jupyter_path
    return any(os.path.isfile(os.path.join(folder, name, "kernel.json"))
               for folder in jupyter_path("kernels"))


if kernel_installed(LIMITED_KERNEL):
    c.Execute.kernel_name = LIMITED_KERNEL
elif "autograder.grading.cli" not in sys.modules:  # the batch grader reads only db_url here
    # Without the kernel nbgrader would stop at the first notebook with "No such
    # kernel".  Say so once and run the notebook's own kernel, without the limits.
    print(f"nbgrader_config.py: kernel {LIMITED_KERNEL!r} is not installed, so notebooks run "
          "in their own kernel WITHOUT memory, CPU-time or process limits.  Install it with: "
          f"{os.path.basename(sys.executable)} -m autograder kernel install", file=sys.stderr)

# Any stderr output in a grade cell scores 0.  Python warnings (a numpy
# RuntimeWarning, say) must not cost an honest student marks.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w+Warning: "
