"""rnn-step-by-step: build the assignment, grade it, and keep student code in the sandbox.

The package follows the data, one stage per subpackage:

    course/    build time: teacher notebook -> source/ -> release/ (and the demo)
    grading/   the trusted parent: reads, judges, writes; never runs student code
    sandbox/   where student code runs, and the wall around it

Next to them, the facts every stage reads: assignment (the teacher notebook's functions,
points and setup), cases (the test cases, one definition for the notebook's hidden
tests and the batch grader), notebook (the hidden tests' check(), which nbgrader runs
inside the notebook kernel) and processes (a uid's process count, for relative
limits).  The sandbox imports this file: it holds no code.
"""
