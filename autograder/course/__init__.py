"""Build time: the teacher notebook becomes the nbgrader source and the student release.

    build      notebooks/<assignment>.py -> source/<assignment>/ -> release/<assignment>/
    samples    the bundled sample submissions (the release with some cells filled in)
    kernel     the resource-limited Jupyter kernel that `nbgrader autograde` runs in
    demo       the main job: build, then grade the samples with both graders
    nbgrader_cli  the real nbgrader command line, run for the course

Nothing here grades a submission or runs student code (the demo hands the samples to
autograder.grading and to nbgrader).
"""
