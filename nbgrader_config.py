"""nbgrader settings for the course.  Every setting is declared here once."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "rnn-step-by-step"
c.CourseDirectory.root = HERE
# The assignment this kit ships; the batch grader reads it from here too.
c.CourseDirectory.assignment_id = "rnn_step_by_step"
# SQLite by default.  Point at PostgreSQL with e.g.
#   export NBGRADER_DB_URL=postgresql://user:password@host/gradebook
c.CourseDirectory.db_url = (os.environ.get("NBGRADER_DB_URL")
                            or "sqlite:///" + os.path.join(HERE, "gradebook.db"))

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
# `python -m autograder kernel install`); `python -m autograder grade` is the
# sandboxed grader.
c.Execute.kernel_name = "rnn-step-by-step-limited"
# Any stderr output in a grade cell scores 0.  Python warnings (a numpy
# RuntimeWarning, say) must not cost an honest student marks.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w+Warning: "
