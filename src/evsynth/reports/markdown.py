"""The review report in Markdown (GitHub-flavoured tables), the same content as the HTML report.

Rendered from the blocks of :func:`evsynth.reports.html.build_document`; forest plots are image
links to the files written by the pipeline. Every text from the input is escaped: HTML
metacharacters become entities (a Markdown viewer passes raw HTML through) and Markdown
punctuation is backslash-escaped, so a study name cannot add markup, links or table cells.
"""

from __future__ import annotations

import re
from typing import Any

from evsynth.errors import InputError
from evsynth.reports.html import build_document
from evsynth.textsafe import document_text

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: Any) -> str:
    """Markdown-escaped single-line text (``&``, ``<``, ``>`` as entities)."""
    s = document_text(text)  # controls in caret notation, as in the HTML report
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    # no list item, heading, rule or ordered list at the start of a line
    s = re.sub(r"^(\s*)([-+#=])(?=\s|$|[-=#]*$)", r"\1\\\2", s)
    s = re.sub(r"^(\s*\d+)([.)])(?=\s|$)", r"\1\\\2", s)
    return " ".join(s.split())


def _cell(c: Any) -> str:
    if isinstance(c, dict):
        if "lines" in c:
            return "<br>".join(md(t) for t in c["lines"])
        text = md(c.get("text"))
        if c.get("cls") == "derived" and text:
            text = f"*{text}*"
        if c.get("sup"):
            text += f"<sup>{md(c['sup'])}</sup>"
        return text
    return md(c)


def _link_target(path: str) -> str:
    """A relative path for a Markdown link: spaces and parentheses percent-encoded."""
    return (str(path).replace("\\", "/").replace(" ", "%20").replace("(", "%28")
            .replace(")", "%29").replace("<", "%3C").replace(">", "%3E"))


def render_markdown(results: dict, figure_paths: dict[str, str],
                    funnel_paths: dict[str, str] | None = None,
                    rob_paths: dict[str, str] | None = None) -> str:
    """The whole report as Markdown.

    ``figure_paths``: analysis id -> path of its forest plot, ``funnel_paths``: analysis id ->
    path of its funnel plot, ``rob_paths``: risk-of-bias figure id -> path (relative to
    report.md), shown as image links.
    """
    if figure_paths is None:
        figure_paths = {}
    if funnel_paths is None:
        funnel_paths = {}
    if rob_paths is None:
        rob_paths = {}
    for name, d in (("figure_paths", figure_paths), ("funnel_paths", funnel_paths),
                    ("rob_paths", rob_paths)):
        if not isinstance(d, dict):
            raise InputError(f"{name} is {type(d).__name__}; expected a dict of analysis id -> "
                             "path")
    doc = build_document(results, figure_paths, funnel_paths)
    out: list[str] = [f"# {md(doc[0]['text'])}", ""]
    for b in doc[1:]:
        t = b["type"]
        if t == "toc":
            out += ["## Contents", ""]
            out += [f"- [{md(text)}](#{anchor})" for text, anchor in b["items"]]
            out.append("")
        elif t == "section" and b.get("id"):
            out += [f'<a id="{b["id"]}"></a>', ""]
        elif t == "heading":
            out += [f"{'#' * b['level']} {md(b['text'])}", ""]
        elif t == "para":
            text = md(b["text"])
            out += [f"*{text}*" if b.get("cls") in ("question", "note") else text, ""]
        elif t == "list":
            out += [f"- {md(i)}" for i in b["items"]] + [""]
        elif t == "raw":   # a Markdown fragment built (and escaped) by a report module
            out += [b["markdown"].rstrip("\n"), ""]
        elif t == "table":
            out += [f"**{md(b.get('caption'))}**", ""]
            header = b["header"]
            if b.get("group_header"):
                groups = [g for g, cs, _ in b["group_header"] for _ in range(cs)]
                header = [h if g == h else f"{g}: {h}" for g, h in zip(groups, header,
                                                                       strict=True)]
            out.append("| " + " | ".join(md(h) for h in header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            for row in b["rows"]:
                cells = [_cell(c) for c in row]
                if b.get("row_header") and cells:
                    cells[0] = f"**{cells[0]}**" if cells[0] else cells[0]
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
        elif t == "figure":
            kind = b.get("kind", "forest")
            path = {"funnel": funnel_paths, "rob": rob_paths}.get(
                kind, figure_paths).get(b["analysis_id"])
            if path:
                cap = md(b["caption"])
                out += [f"![{cap}]({_link_target(path)})", "", f"*{cap}*", ""]
            else:
                out += [f"*{md(b['caption'])}: {md(kind)} plot not available.*", ""]
    return "\n".join(out).rstrip() + "\n"
