"""What a student is told when the grader itself fails, never a judgement of their code."""
import sys

from . import untrusted


def grader_fault_text(step, error):
    """The message of a function whose grading failed inside the grader itself (the
    traceback goes to the grader's log, stderr)."""
    import traceback
    print(f"grader fault while {step}:\n{untrusted.shown(traceback.format_exc(), lines=True)}",
          file=sys.stderr)
    return (f"Scored 0 because the grader itself failed while {step} ({type(error).__name__}): "
            "this is a fault of the grader, not a judgement of your code. Tell the instructor, "
            "who sees the details in the grader's log.")


GRADER_FAULT = ("not graded: the grader itself failed on this submission (see its log); "
                "the instructor runs the same command again to retry it")
