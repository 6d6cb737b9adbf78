"""The trusted side of the batch grader: it never runs student code.

A submission goes through these stages, one module each (autograder.grading.batch runs them):

    settings     the command line and the course's nbgrader_config.py -> Settings
    submissions  ReadSubmission: the solution cells of each notebook
    runner       RunInSandbox: the parent's handle on the sandboxed fork servers
                 (distributed: the same on the workers of a Dask cluster)
    judge        Judge: observations -> results entry (verdict compares and diagnoses,
                 with the known mistakes of mistakes)
    journal      finished entries kept, so a killed batch resumes
    batch        the loop over the class
    cli          main(): the gradebook writer (gradebook, autograded, timestamps), the
                 batch, then the files people read (report, figurecache)

Shared by these: payloads and casecache (the prepared cases), untrusted (what students
control made harmless), faults (what a grader fault tells the student), version.
"""
