"""A Python kernel with resource limits, for running student notebooks with nbgrader.

`nbgrader autograde` runs each submission as the instructor, unisolated.  This
kernel at least bounds what a runaway or hostile notebook can take: address
space, CPU time, file size, and (for non-root users) the number of processes.
It is no sandbox -- use `python -m autograder grade` for that.

    python -m autograder kernel install   # into this environment (sys.prefix)
    python -m autograder build            # also installs it, as a user kernelspec
and, in nbgrader_config.py,
    c.Execute.kernel_name = "rnn-step-by-step-limited"
"""
import json
import os
import resource
import sys
from pathlib import Path

from autograder.processes import uid_tasks

KERNEL_NAME = "rnn-step-by-step-limited"

# The limits, with what each bounds.  RLIMIT_NPROC counts every process and thread
# of the user, so it is set relative to what the user already runs (root ignores it).
LIMITS = {
    "RLIMIT_AS": 4 * 2**30,      # address space: 4 GiB
    "RLIMIT_CPU": 15 * 60,       # CPU seconds for the whole notebook
    "RLIMIT_FSIZE": 256 * 2**20,  # largest file the kernel may write
    "RLIMIT_CORE": 0,            # no core dumps
}
EXTRA_PROCESSES = 64


def apply_limits():
    for name, value in LIMITS.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    nproc = uid_tasks(os.getuid()) + EXTRA_PROCESSES
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def kernel_spec():
    """The text of kernel.json: this Python, running this module."""
    spec = {"argv": [sys.executable, "-m", "autograder.course.kernel", "-f", "{connection_file}"],
            "display_name": "Python 3 (limited, for grading)", "language": "python",
            "metadata": {"debugger": False}}
    return json.dumps(spec, indent=1) + "\n"


def _write(folder):
    """Write kernel.json into folder unless it already holds the same text; True if written."""
    spec = folder / "kernel.json"
    if spec.is_file() and spec.read_text() == kernel_spec():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    spec.write_text(kernel_spec())
    return True


def install(prefix=sys.prefix):
    """Write the kernelspec into <prefix>/share/jupyter/kernels/; return its folder."""
    folder = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    _write(folder)
    return folder


def install_user():
    """Write the kernelspec into the user's Jupyter data folder (what `jupyter kernelspec
    install --user` uses), if it is not there already; return (folder, whether written)."""
    from jupyter_core.paths import jupyter_data_dir
    folder = Path(jupyter_data_dir()) / "kernels" / KERNEL_NAME
    return folder, _write(folder)


def main(argv):
    if argv[:1] == ["install"]:
        print(f"installed kernel {KERNEL_NAME!r} in {install()}")
        return 0
    print("usage: python -m autograder kernel install", file=sys.stderr)
    return 2


if __name__ == "__main__":
    apply_limits()
    from ipykernel.kernelapp import launch_new_instance
    launch_new_instance()
