"""Word export of a review's results: Summary of Findings tables in GRADEpro's layout, forest
plots and key results, written with python-docx (the optional extra ``evsynth[docx]``).

Layout of each Summary of Findings table (one per comparison), after the tables GRADEpro GDT
exports (Schünemann et al., GRADE Handbook 2013, chapter 9; Cochrane Handbook v6.4, chapter
14.1.6): a title row "<intervention> compared with <control>", then the columns

    Outcomes | № of participants (studies) | Certainty of the evidence (GRADE) |
    Relative effect (95% CI) | Anticipated absolute effects (95% CI): Risk with <control>,
    Risk difference with <intervention> | Comments

The certainty cell holds the GRADE symbols (⊕⊕⊕◯) and words with the reasons for rating down as
footnote letters (a, b, ...); the computed prompts (I², the CI against the thresholds, the
optimal information size, the NNT with its interval, the assumed control risk) are footnotes
of the outcome cell, and the comment column stays short, as GRADEpro lays them out (keys
``certainty_footnotes``, ``footnotes`` and ``comments_short`` of
:func:`evsynth.summaries.sof.sof_row`). Identical footnotes share a letter. Under the table:
the footnotes, the explanation of the anticipated absolute effects and the GRADE Working Group
grades of evidence.

Then, per analysis, the key result (``plain_language``) and the forest plot (PNG bytes given
in ``figures``, keyed by analysis id); figures under other keys are appended at the end with
the key as caption.

Every text from the input is sanitised as in the HTML report (:func:`clean_text`): control
characters in caret notation, bidi controls as ``[U+202E]``, characters XML cannot hold as
U+FFFD, so no input can corrupt the document or reorder what it shows, and Word shows text as
text (no fields or markup are interpreted). The file is written atomically
(:func:`evsynth.files.atomic_write`); an existing file that evsynth did not write is not
replaced unless ``force=True``.

Input: the results.json dict (``docs/results-schema.md``): ``review`` (``title``,
``question``), ``comparisons`` (``id``, ``label``, ``intervention``, ``control``) and
``analyses`` (``id``, ``comparison``, ``outcome``, ``window``, ``sof``, ``plain_language``).

References
----------
.. [1] Schünemann H, Brożek J, Guyatt G, Oxman A, eds. (2013). GRADE Handbook, chapter 9
       (summary of findings tables). https://gdt.gradepro.org/app/handbook/handbook.html
.. [2] Guyatt GH, Oxman AD, Santesso N, et al. (2013). GRADE guidelines: 12. Preparing
       summary of findings tables -- binary outcomes. *J Clin Epidemiol* 66(2):158-172.
       doi:10.1016/j.jclinepi.2012.01.012

Examples
--------
>>> import tempfile, pathlib
>>> from evsynth.reports.docx import write_docx
>>> results = {"review": {"title": "A review"}, "comparisons": [], "analyses": []}
>>> with tempfile.TemporaryDirectory() as d:
...     path = write_docx(results, pathlib.Path(d) / "review.docx")
...     path.name
'review.docx'
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evsynth.errors import InputError
from evsynth.files import atomic_write, check_overwrite
from evsynth.textsafe import document_text

__all__ = ["clean_text", "docx_bytes", "write_docx"]

#: marker written into the document's core properties: the file is evsynth's output
MARKER = "evsynth-docx"
_PNG = b"\x89PNG\r\n\x1a\n"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: column widths of the SoF table (cm; 26.1 cm between the margins of a landscape A4 page)
_WIDTHS_CM = (5.2, 2.4, 2.6, 2.6, 3.2, 4.6, 4.6)


def clean_text(value: Any) -> str:
    """Input text made safe for the document: None -> "", control characters shown as the
    HTML report shows them (:func:`evsynth.textsafe.document_text`: caret notation, bidi
    controls as ``[U+202E]``, characters XML cannot hold as U+FFFD), so a hidden direction
    override cannot reorder a label.

    Parameters
    ----------
    value : Any
        Text (other values are converted with ``str``).

    Returns
    -------
    str

    Examples
    --------
    >>> clean_text("Pain\\x1b[2J\\x00 score")
    'Pain^[[2J^@ score'
    >>> clean_text("Drug \\u202eA sv B")
    'Drug [U+202E]A sv B'
    """
    return document_text(value)


def _letter(i: int) -> str:
    """a, b, ..., z, aa, ab, ... (GRADEpro's footnote letters)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = _LETTERS[r] + out
    return out


def _grouped(text: str) -> str:
    """"per 1000" as "per 1,000" (digit grouping, Cochrane style)."""
    return text.replace("per 1000", "per 1,000")


class _Footnotes:
    """Footnote letters shared across one table: the same text gets the same letter."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def letters(self, texts: list[str]) -> str:
        out = []
        for t in texts:
            t = clean_text(t).strip().rstrip(".;")
            if not t:
                continue
            if t not in self.texts:
                self.texts.append(t)
            out.append(_letter(self.texts.index(t)))
        return ",".join(out)


def _require_docx() -> Any:
    try:
        import docx
    except ModuleNotFoundError:
        # an InputError: the CLI prints it as "evsynth: error: ..." with exit code 2
        raise InputError("Word export (--docx) needs python-docx, an optional extra; expected "
                         "it installed: pip install 'evsynth[docx]' (or pip install "
                         "python-docx)") from None
    return docx


def _cell_text(cell: Any, text: str, *, bold: bool = False, sup: str = "",
               size: float = 8.0) -> None:
    from docx.shared import Pt

    cell.text = ""
    par = cell.paragraphs[0]
    lines = clean_text(text).split("\n")
    for j, line in enumerate(lines):
        run = par.add_run(line)
        run.bold = bold
        run.font.size = Pt(size)
        if j < len(lines) - 1:
            run.add_break()
    if sup:
        run = par.add_run(" " + sup)
        run.font.superscript = True
        run.font.size = Pt(size)


def _sof_rows(analyses: list[dict]) -> list[tuple[dict, dict]]:
    out = []
    for a in analyses:
        row = a.get("sof")
        if not isinstance(row, dict):
            raise InputError(f"analysis {a.get('id', '?')!r}: field 'sof' is "
                             f"{type(row).__name__}; expected the row of "
                             "evsynth.summaries.sof.sof_row (run the review first)")
        out.append((a, row))
    return out


def _sof_table(doc: Any, comp: dict, analyses: list[dict]) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.shared import Cm, Pt

    ctrl = clean_text(comp.get("control") or "control")
    interv = clean_text(comp.get("intervention") or "intervention")
    notes = _Footnotes()
    rows = _sof_rows(analyses)
    table = doc.add_table(rows=3, cols=7)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    title = table.cell(0, 0).merge(table.cell(0, 6))
    _cell_text(title, f"{interv} compared with {ctrl}", bold=True, size=9)
    heads = ["Outcomes", "№ of participants (studies)", "Certainty of the evidence (GRADE)",
             "Relative effect (95% CI)"]
    for j, h in enumerate(heads):
        c = table.cell(1, j).merge(table.cell(2, j))
        _cell_text(c, h, bold=True)
    ant = table.cell(1, 4).merge(table.cell(1, 5))
    _cell_text(ant, "Anticipated absolute effects* (95% CI)", bold=True)
    _cell_text(table.cell(2, 4), f"Risk with {ctrl}", bold=True)
    _cell_text(table.cell(2, 5), f"Risk difference with {interv}", bold=True)
    com = table.cell(1, 6).merge(table.cell(2, 6))
    _cell_text(com, "Comments", bold=True)
    for a, r in rows:
        cells = table.add_row().cells
        outcome_notes = notes.letters([str(x) for x in r.get("footnotes") or []])
        cert_notes = notes.letters([str(x) for x in r.get("certainty_footnotes") or []])
        _cell_text(cells[0], str(r.get("outcome_text") or r.get("outcome") or a.get("id", "")),
                   sup=outcome_notes)
        k = r.get("k")
        n = r.get("participants")
        trials = "" if k is None else f"{k} RCT{'' if k == 1 else 's'}"
        part = (f"{int(n):,} ({trials})" if isinstance(n, (int, float)) and n == n
                else str(r.get("participants_text") or "not reported"))
        if k == 0:
            part = "No studies"
        _cell_text(cells[1], part)
        _cell_text(cells[2], str(r.get("certainty_text") or "Not assessed"), sup=cert_notes)
        rel = r.get("relative_text") or ("—" if r.get("kind") == "binary" else "-")
        _cell_text(cells[3], _grouped(str(rel)))
        _cell_text(cells[4], _grouped(str(r.get("control_text") or "—")))
        diff = [t for t in (r.get("difference_text"), r.get("percent_text")) if t]
        _cell_text(cells[5], _grouped("\n".join(str(t) for t in diff) or "—"))
        short = r.get("comments_short")
        if short is None:
            short = r.get("comments_text") or ""
        _cell_text(cells[6], str(short))
    table.autofit = False
    for j, col in enumerate(table.columns):
        col.width = Cm(_WIDTHS_CM[j])
    for row in table.rows:
        for j, cell in enumerate(row.cells):
            cell.width = Cm(_WIDTHS_CM[j])
            for par in cell.paragraphs:
                par.paragraph_format.space_after = Pt(0)
    doc.add_paragraph()
    small = []
    for i, t in enumerate(notes.texts):
        small.append(f"{_letter(i)}. {t}.")
    small.append("*The risk in the intervention group (and its 95% confidence interval) is based "
                 "on the assumed risk in the comparison group and the relative effect of the "
                 "intervention (and its 95% CI). CI: confidence interval; MD: mean difference; "
                 "RR: risk ratio; OR: odds ratio; SMD: standardised mean difference.")
    from evsynth.reports.html import GRADE_DEFINITIONS

    small.append("GRADE Working Group grades of evidence. " + " ".join(
        f"{w} certainty: {d[:1].upper() + d[1:]}" for w, d in GRADE_DEFINITIONS))
    for t in small:
        p = doc.add_paragraph()
        run = p.add_run(t)
        run.font.size = Pt(7.5)
        p.paragraph_format.space_after = Pt(2)


def _analysis_title(a: dict) -> str:
    o = a.get("outcome") or {}
    w = a.get("window") or {}
    label = str(o.get("label") or o.get("id") or a.get("id") or "outcome")
    return label + (f": {w['label']}" if w.get("label") else "")


def _check_png(key: str, data: Any) -> bytes:
    if not isinstance(data, (bytes, bytearray)) or not bytes(data).startswith(_PNG):
        raise InputError(f"figures[{key!r}] is not PNG image bytes; expected the bytes of a "
                         ".png file (e.g. evsynth.files.figure_bytes(fig, 'png'))")
    return bytes(data)


def docx_bytes(results: dict, *, figures: Mapping[str, bytes] | None = None) -> bytes:
    """The Word document of :func:`write_docx` as bytes.

    Parameters
    ----------
    results : dict
        The results.json dict.
    figures : mapping str -> bytes, optional
        PNG bytes of the forest plots keyed by analysis id (others appended at the end).

    Returns
    -------
    bytes

    References
    ----------
    .. [1] Guyatt GH et al. (2013). GRADE guidelines 12. *J Clin Epidemiol* 66:158-172.
           doi:10.1016/j.jclinepi.2012.01.012

    Examples
    --------
    >>> docx_bytes({"review": {"title": "T"}, "comparisons": [], "analyses": []})[:2]
    b'PK'
    """
    docx = _require_docx()
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm, Pt

    if not isinstance(results, dict):
        raise InputError(f"results is {type(results).__name__}; expected the results.json dict")
    figs = dict(figures or {})
    for key, data in figs.items():
        _check_png(str(key), data)
    review = results.get("review") or {}
    analyses = results.get("analyses") or []
    comparisons = results.get("comparisons") or []
    if not isinstance(analyses, list) or not isinstance(comparisons, list):
        raise InputError("results: fields 'analyses' and 'comparisons' must be lists")
    doc = docx.Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(1.8))
    doc.styles["Normal"].font.size = Pt(10)
    cp = doc.core_properties
    cp.title = clean_text(review.get("title") or "Review")[:255]
    cp.author = "evsynth"
    cp.keywords = MARKER
    cp.comments = "Written by evsynth from results.json"
    doc.add_heading(clean_text(review.get("title") or "Review"), level=0)
    if review.get("question"):
        doc.add_paragraph(clean_text(review["question"]))
    used: set[str] = set()
    n_fig = 0
    by_comp: dict[Any, list[dict]] = {}
    for a in analyses:
        if not isinstance(a, dict):
            raise InputError(f"results: an entry of 'analyses' is {type(a).__name__}; "
                             "expected a dict")
        by_comp.setdefault((a.get("comparison") or {}).get("id"), []).append(a)
    comps = list(comparisons) or [{"id": cid, **(lst[0].get("comparison") or {})}
                                  for cid, lst in by_comp.items()]
    for comp in comps:
        mine = by_comp.get(comp.get("id"), [])
        if not mine:
            continue
        name = comp.get("label") or (f"{comp.get('intervention')} compared with "
                                     f"{comp.get('control')}")
        doc.add_heading(clean_text(name), level=1)
        doc.add_heading("Summary of findings", level=2)
        _sof_table(doc, comp, mine)
        doc.add_heading("Key results", level=2)
        for a in mine:
            p = doc.add_paragraph()
            run = p.add_run(clean_text(_analysis_title(a)) + ". ")
            run.bold = True
            p.add_run(clean_text(a.get("plain_language") or ""))
        for a in mine:
            aid = str(a.get("id"))
            if aid in figs:
                n_fig += 1
                used.add(aid)
                doc.add_picture(io.BytesIO(figs[aid]), width=Cm(24))
                cap = doc.add_paragraph()
                cap.add_run(f"Figure {n_fig}. ").bold = True
                cap.add_run(clean_text(f"Forest plot: {_analysis_title(a)}, {name}"))
    if results.get("networks"):   # [[network]]: the report's network blocks
        from evsynth.reports.network_section import network_blocks

        counter = [n_fig]
        _blocks(doc, network_blocks(results, counter), figs, used)
        n_fig = counter[0]
    rest = [k for k in figs if k not in used]
    if rest:
        doc.add_heading("Figures", level=1)
        for key in rest:
            n_fig += 1
            doc.add_picture(io.BytesIO(figs[key]), width=Cm(20))
            cap = doc.add_paragraph()
            cap.add_run(f"Figure {n_fig}. ").bold = True
            cap.add_run(clean_text(key))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _blocks(doc: Any, blocks: list[dict], figs: Mapping[str, bytes], used: set[str]) -> None:
    """Blocks of :func:`evsynth.reports.html.build_document` (headings, paragraphs, lists,
    tables, figures) into the document; figures from ``figs`` by the block's ``analysis_id``
    (added to ``used``). Every text through :func:`clean_text`."""
    from docx.shared import Cm

    def text(c: Any) -> str:
        return str(c.get("text", "")) if isinstance(c, Mapping) else str(c)

    for b in blocks:
        t = b["type"]
        if t == "heading":
            doc.add_heading(clean_text(b["text"]), level=min(int(b["level"]) - 1, 4))
        elif t == "para":
            doc.add_paragraph(clean_text(b["text"]))
        elif t == "list":
            for item in b["items"]:
                doc.add_paragraph(clean_text(item), style="List Bullet")
        elif t == "table":
            doc.add_paragraph().add_run(clean_text(b.get("caption") or "")).bold = True
            rows = [list(b["header"]), *b["rows"]]
            ncol = max(len(r) for r in rows)
            table = doc.add_table(rows=len(rows), cols=ncol)
            table.style = "Table Grid"
            for i, row in enumerate(rows):
                for j, c in enumerate(row):
                    _cell_text(table.cell(i, j), text(c), bold=i == 0)
        elif t == "figure":
            aid = str(b["analysis_id"])
            if aid in figs:
                used.add(aid)
                doc.add_picture(io.BytesIO(figs[aid]), width=Cm(20))
                doc.add_paragraph(clean_text(b["caption"]))
            else:
                doc.add_paragraph(clean_text(f"{b['caption']}: not available."))


def _is_ours(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return MARKER in z.read("docProps/core.xml").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def write_docx(results: dict, path: str | os.PathLike[str], *,
               figures: Mapping[str, bytes] | None = None, force: bool = False) -> Path:
    """Write the review's Summary of Findings tables, forest plots and key results to a .docx.

    Parameters
    ----------
    results : dict
        The results.json dict (``review``, ``comparisons``, ``analyses`` with ``sof`` and
        ``plain_language``).
    path : str or path-like
        The .docx file to write (atomically).
    figures : mapping str -> bytes, optional
        PNG bytes of the forest plots keyed by analysis id; other keys are appended at the end
        with the key as caption.
    force : bool
        Replace an existing file that evsynth did not write.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    InputError
        A results dict without SoF rows, figures that are not PNG bytes, or an existing file
        that evsynth did not write (without ``force``).

    References
    ----------
    .. [1] Guyatt GH, Oxman AD, Santesso N, et al. (2013). GRADE guidelines: 12. Preparing
           summary of findings tables -- binary outcomes. *J Clin Epidemiol* 66(2):158-172.
           doi:10.1016/j.jclinepi.2012.01.012

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_docx({"review": {"title": "T"}, "analyses": []}, pathlib.Path(d) / "r.docx")
    ...     p.stat().st_size > 0
    True
    """
    p = Path(path)
    if p.suffix.lower() != ".docx":
        raise InputError(f"{p}: expected a .docx file name")
    check_overwrite(p, force=force, owned=_is_ours, option="force=True (--force)",
                    what=".docx file")
    data = docx_bytes(results, figures=figures)
    return atomic_write(p, data)
