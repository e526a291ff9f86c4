"""Every public name has a numpydoc docstring whose Examples run (issue 10, point 5).

For each name in ``evsynth.__all__`` (and the main functions of the public modules
``evsynth.convert`` and ``evsynth.records``) this checks the numpydoc sections (Parameters,
Returns, References with a DOI, Examples) and runs the Examples with :mod:`doctest`, so the
README's ``python -m pytest`` runs them in CI.
"""

from __future__ import annotations

import doctest
import inspect
import re
import types
from typing import Any

import matplotlib
import pytest

import evsynth

matplotlib.use("Agg")

SECTIONS = ("Parameters", "Returns", "References", "Examples")

#: sections that do not apply to a public object, with the reason
NOT_APPLICABLE: dict[str, dict[str, str]] = {
    # an exception class: raised, not called for a result; no method to cite
    "InputError": {"Returns": "an exception class", "References": "no method to cite"},
}

#: main functions of the public modules, documented and doctested like the top-level names
MODULE_FUNCTIONS: dict[str, list[str]] = {
    "convert": [n for n in evsynth.convert.__all__
                if inspect.isfunction(getattr(evsynth.convert, n))],
    "records": ["read", "deduplicate", "cohen_kappa", "build_query"],
}
#: sections a module docstring must have (Parameters and Returns do not apply to a module)
MODULE_SECTIONS = ("References", "Examples")
#: sections of the records layer's functions (data handling, mostly no method to cite)
RECORDS_SECTIONS = ("Parameters", "Returns", "Examples")


def _public() -> list[tuple[str, Any, tuple[str, ...]]]:
    """(dotted name, object, required sections) for everything checked here."""
    out = []
    for name in evsynth.__all__:
        if name == "__version__":  # a string: it cannot carry a docstring
            continue
        obj = getattr(evsynth, name)
        if isinstance(obj, types.ModuleType):
            out.append((name, obj, MODULE_SECTIONS))
            for fn in MODULE_FUNCTIONS.get(name, []):
                secs = RECORDS_SECTIONS if name == "records" else SECTIONS
                out.append((f"{name}.{fn}", getattr(obj, fn), secs))
        else:
            skip = NOT_APPLICABLE.get(name, {})
            out.append((name, obj, tuple(s for s in SECTIONS if s not in skip)))
    return out


PUBLIC = _public()
IDS = [p[0] for p in PUBLIC]


def _section(doc: str, title: str) -> str | None:
    """Body of numpydoc section ``title`` (underlined with dashes), or None."""
    header = rf"^[ \t]*{title}[ \t]*\n[ \t]*-{{3,}}[ \t]*\n"
    next_header = r"^[ \t]*\w[\w ]*\n[ \t]*-{3,}"
    m = re.search(rf"{header}(.*?)(?={next_header}|\Z)", doc, flags=re.M | re.S)
    return m.group(1) if m else None


def test_every_public_name_is_checked() -> None:
    names = {p[0] for p in PUBLIC}
    assert set(evsynth.__all__) - {"__version__"} <= names


@pytest.mark.parametrize(("name", "obj", "sections"), PUBLIC, ids=IDS)
def test_numpydoc_sections(name: str, obj: Any, sections: tuple[str, ...]) -> None:
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    missing = [s for s in sections if _section(doc, s) is None]
    assert not missing, f"{name}: docstring lacks numpydoc section(s) {missing}"
    try:
        signature = inspect.signature(obj) if callable(obj) else None
    except ValueError:  # a builtin's subclass (InputError): no introspectable signature
        signature = None
    if "Parameters" in sections and signature is not None:
        params = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
        text = _section(doc, "Parameters") or ""
        documented = set(re.findall(r"^(\**\w+(?:, *\**\w+)*)\s*(?::|$)", text, flags=re.M))
        names = {n.strip().lstrip("*") for group in documented for n in group.split(",")}
        undocumented = [p.name for p in params if p.name not in names]
        assert not undocumented, f"{name}: parameters not in the Parameters section: {undocumented}"
    if "References" in sections:
        refs = _section(doc, "References") or ""
        assert re.search(r"doi:\s*10\.\d{4,9}/\S+|doi\.org/10\.\d{4,9}/\S+", refs, flags=re.I), (
            f"{name}: References give no DOI")
    examples = _section(doc, "Examples") or ""
    assert ">>>" in examples, f"{name}: Examples have no doctest"


@pytest.mark.parametrize(("name", "obj", "sections"), PUBLIC, ids=IDS)
def test_examples_run(name: str, obj: Any, sections: tuple[str, ...]) -> None:
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(obj, name, module=False, globs={})
    tests = [t for t in tests if t.examples]
    assert tests, f"{name}: no doctest examples"
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
