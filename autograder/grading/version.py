"""The grader's version: part of the journal key and of the case-cache key.

Bump GRADER_VERSION when grading changes, so that neither a journal entry nor a cached
case made by the old grader is used again.
"""
GRADER_VERSION = "5"
# (4: a journaled entry is used as it was kept, so only entries cleaned before they were
# journaled may be found; a branch of version 3 journaled them uncleaned)
# (5: a batch child stopped for a leftover process no longer charges the cell whose top
# level it was running a timeout, so a version-4 entry may hold such a wrong verdict)
