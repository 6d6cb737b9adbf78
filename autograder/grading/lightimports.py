"""Keep imports that the batch grader never uses off its start-up.

jsonschema, which nbformat and nbgrader import, imports the optional package
``rfc3987_syntax`` when it is installed, only to check strings against the "iri" and
"iri-reference" formats; that package builds an Earley grammar with lark at import,
about 1.5 s of CPU.  No schema the grader meets uses those formats (nbformat's notebook
schemas do not, and format checking is not switched on for them), so the grader's
process declares the package absent before anything imports jsonschema.  jsonschema
then leaves those two formats unchecked, as it does on any machine without the package.
"""
import sys


def skip_unused_iri_grammar():
    """Declare rfc3987_syntax absent, unless jsonschema (or the package) is already loaded."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)
