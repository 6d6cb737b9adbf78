"""Command line: python -m autograder {build,grade} ...

    python -m autograder demo              build, then grade the bundled samples
    python -m autograder build [--check]
    python -m autograder kernel install    resource-limited kernel for nbgrader autograde
    python -m autograder grade SUBMITTED_DIR --out OUT_DIR [--jobs N] ...
"""
import sys

USAGE = __doc__.strip() + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "build":
        from .course import build
        return build.main(rest)
    if command == "demo":
        from .course import demo
        return demo.main(rest)
    if command == "kernel":
        from .course import kernel
        return kernel.main(rest)
    if command == "grade":
        from .grading import lightimports
        lightimports.skip_unused_iri_grammar()
        from .grading import cli
        return cli.main(rest)
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
