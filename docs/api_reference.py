"""Builds the API reference of the public surface with pdoc, and fails on what pdoc lets pass.

    python docs/api_reference.py OUTPUT_DIRECTORY

pdoc turns a name in backticks into a link when it finds what the name refers to, and leaves it as
plain code when it does not, silently: a renamed method leaves behind docstrings that point at nothing.
This build fails instead. A name in backticks in a docstring must be one pdoc links to, a parameter of
the documented function, or a name the documented object's own module can reach (an import such as
`datetime.date`). Text in backticks that is not a dotted name (`steps[0].delay_minutes`, `HH:MM`) is
code, not a reference, and is not checked. Warnings from pdoc (an import that fails, an annotation it
cannot read) fail the build too.
"""

from __future__ import annotations

import builtins
import inspect
import keyword
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pdoc
import pdoc.doc
import pdoc.render
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

# The public surface (see docs/library.md). A package with `__all__` hides from pdoc the submodules it
# does not list, so the internal modules (incidentcore.model, ...) stay out of the reference.
PUBLIC = (
    "incidentcore",
    "incidentcore.services",
    "incidentcore.testing",
    "incidentcore.testing.strategies",
    "incidentcore.testing.stateful",
)

# Unlinked code spans that look like names: pdoc links a resolved one as <code><a ...>name</a></code>.
UNLINKED_NAME = re.compile(r"<code>((?!\d)\w+(?:\.(?!\d)\w+)*)(?:\(\))?</code>")
LITERALS = {"None", "True", "False", "self", "cls"}

broken: list[str] = []


def reachable(module: pdoc.doc.Module, namespace: str, name: str) -> bool:
    """Whether `name`, unlinked by pdoc in the docstring of `namespace` in `module`, still names
    something: a parameter of the function documented, or an attribute path from the globals (or
    builtins) of the module that defines the documented object."""
    if name in LITERALS or keyword.iskeyword(name):
        return True
    documented: Any = module.get(namespace) if namespace else module
    head, *rest = name.split(".")
    obj = getattr(documented, "obj", None)
    if (inspect.isfunction(obj) or inspect.ismethod(obj)) and head in inspect.signature(obj).parameters:
        return True
    defining = sys.modules.get(documented.taken_from[0]) if documented is not None else None
    scope = {**vars(builtins), **(vars(defining) if defining else {})}
    if head not in scope:
        return False
    target = scope[head]
    for part in rest:
        if not hasattr(target, part):
            # a field without a class-level default, a dataclass's or a Protocol's, is only annotated
            return inspect.isclass(target) and any(part in inspect.get_annotations(c) for c in target.__mro__)
        target = getattr(target, part)
    return True


linkify = pdoc.render.env.filters["linkify"]


@pass_context
def checked_linkify(context: Context, code: str, namespace: str = "", shorten: bool = True) -> Markup:
    html = linkify(context, code, namespace, shorten)
    if not shorten:  # pdoc renders docstrings with shorten=False, signatures and annotations with True
        module: pdoc.doc.Module = context["module"]
        for match in UNLINKED_NAME.finditer(html):
            if not reachable(module, namespace, match.group(1)):
                where = f"{module.modulename}.{namespace}" if namespace else module.modulename
                broken.append(f"{where}: `{match.group(1)}` names nothing")
    return html


def main(output: Path) -> int:
    pdoc.render.env.filters["linkify"] = checked_linkify
    pdoc.render.configure(docformat="markdown", show_source=False, search=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pdoc.pdoc(*PUBLIC, output_directory=output)
    for line in sorted(set(broken)):
        print(f"broken reference: {line}", file=sys.stderr)
    if broken:
        return 1
    print(f"API reference written to {output}/index.html")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
