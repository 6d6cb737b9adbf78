"""Where student code runs: the sandbox and the only modules that execute student code.

    isolation   the parent's side: bubblewrap, namespaces, limits, slots (builds the wall)
    forkserver  inside the sandbox: one per slot, forks a child per function
    child       inside: the case payloads and the cooperative timer
    engine      runs a student function on the cases (in the child, and in the notebook
                kernel for the hidden tests); it observes, never judges
    structure   results to plain arrays and back, the format that crosses the wall
    compare     how results are compared (used on both sides)

Everything but isolation is mounted into the sandbox, so none of these modules may import
the trusted side (autograder.grading) or read the reference's answers.  This file stays
empty of code: the sandbox imports it.
"""
