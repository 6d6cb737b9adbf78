"""rnn-step-by-step grader: test cases, comparisons, diagnosis and batch grading.

The hidden tests of the notebook (autograder.notebook) and the batch grader
(python -m autograder grade) share the cases in autograder.cases and the
comparisons in autograder.compare.
"""
