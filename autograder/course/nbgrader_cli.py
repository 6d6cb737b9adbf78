"""Run the real nbgrader command line for the course."""
import os
import subprocess
import sys
from pathlib import Path


def environment(extra=None):
    """os.environ with this interpreter's bin/ first on PATH (nbgrader calls `alembic`)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def run(args, course, check=True, env=None):
    """Run `nbgrader ARGS` in the course directory; return the CompletedProcess."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course,
                          env=environment(env), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc
