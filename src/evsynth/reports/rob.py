"""Risk of bias: RoB 2 and ROBINS-I judgements read, validated, tabulated and plotted.

Two tools are supported, each with its own domains and judgements (case-insensitive; the
synonyms listed are accepted and stored under the canonical spelling):

RoB 2 (randomised trials; Sterne et al. 2019), tool codes ``rob2``, ``RoB 2``, ``RoB2``
    D1 bias arising from the randomization process, D2 bias due to deviations from intended
    interventions, D3 bias due to missing outcome data, D4 bias in measurement of the outcome,
    D5 bias in selection of the reported result; overall. Judgements ``low`` (also "low risk",
    "low risk of bias"), ``some concerns`` (also "some", "some concern", and "unclear", the
    RoB 1 word many data sets still carry), ``high`` (also "high risk", "high risk of bias").
ROBINS-I (non-randomised studies; Sterne et al. 2016), tool codes ``robins-i``, ``ROBINS-I``,
``robinsi``
    D1 confounding, D2 selection of participants, D3 classification of interventions,
    D4 deviations from intended interventions, D5 missing data, D6 measurement of outcomes,
    D7 selection of the reported result; overall. Judgements ``low``, ``moderate``, ``serious``,
    ``critical``, ``no information`` (also "NI", "no info"); each also with " risk" or " risk of
    bias" appended. "unclear" and "some concerns" are *not* ROBINS-I judgements and are refused.

An empty cell is "not assessed" (shown grey, never guessed). The overall judgement is never
computed from the domains, but it is checked: RoB 2 and ROBINS-I both say the overall risk of
bias is at least as severe as the most severe domain judgement (Sterne 2019, Table 2; Sterne
2016, Table 3; "no information" aside), so an overall judgement milder than a domain is an
:class:`~evsynth.errors.InputError` (``check_overall=False`` turns the check off).

Input: columns of ``studies.csv``
---------------------------------
``study_id`` (required); ``rob_tool`` (optional; empty means the ``tool=`` argument, default RoB
2); ``rob_d1`` ... ``rob_d5`` (RoB 2) or ``rob_d1`` ... ``rob_d7`` (ROBINS-I); ``rob_overall``.
The named columns of the review schema are accepted for RoB 2 as the same domains:
``rob_randomisation`` (D1), ``rob_deviations`` (D2), ``rob_missing`` (D3), ``rob_measurement``
(D4), ``rob_selection`` (D5); a study giving both spellings with different values is an error.

Input: the long table ``risk_of_bias.csv`` (optional)
-----------------------------------------------------
One row per study x outcome x domain: ``study`` (a ``study_id`` of studies.csv), ``outcome``
(an outcome id; empty = the study-level judgement), ``domain`` (``D1`` ... ``D7``, ``overall``,
``rob_d1``, or the domain's name as above, case-insensitive), ``judgement``, ``support`` (the
reviewers' reasons, optional free text), and an optional ``tool``. Per-outcome rows override
the study-level judgement of that domain for that outcome (RoB 2 is an assessment per result;
Higgins et al., Cochrane Handbook v6.4 chapter 8.2); domains not given for the outcome keep the
study-level judgement. The header row must name ``study``, ``domain`` and ``judgement``; an
empty file (no header row) is an error.

Outputs
-------
:func:`read_risk_of_bias` returns a :class:`RiskOfBias` (results contract: ``summary()``,
``to_dict()``, ``to_frame()``, HTML in Jupyter) with

* :meth:`RiskOfBias.table`: one row per study (``study``, ``tool``, ``D1`` ..., ``overall``)
  for the study level or one outcome; :meth:`RiskOfBias.to_html` / :meth:`RiskOfBias.to_markdown`
  render it with every input string escaped; :meth:`RiskOfBias.table_block` gives the block the
  review report's table renderer (``evsynth.reports.html``) draws;
* :meth:`RiskOfBias.traffic_light`: the robvis traffic-light plot (studies x domains, coloured
  circles with the symbols ``+`` low, ``-`` some concerns/moderate, ``X`` high/serious, ``!``
  critical, ``?`` no information; colours of robvis's "cochrane" palette: McGuinness & Higgins
  2021);
* :meth:`RiskOfBias.summary_plot`: the robvis summary plot (per domain, the percentage of
  studies, or of the meta-analysis weight when ``weights`` are given, at each judgement);
* :meth:`RiskOfBias.forest_columns` and :func:`draw_forest_columns`: the RevMan-style columns
  beside a forest plot (coloured circles under the letters A-E and the overall letter, with the
  legend "(A) Bias arising from ...").

:func:`share_of_weight_high_risk` gives the GRADE risk-of-bias prompt: the share of the
meta-analysis weight from studies at high risk of bias.

Figures are matplotlib Figures built without pyplot; their SVG (``evsynth.files.figure_bytes``)
is byte-for-byte reproducible.

References
----------
.. [1] Sterne JAC, Savović J, Page MJ, et al. (2019). RoB 2: a revised tool for assessing risk
       of bias in randomised trials. *BMJ* 366:l4898. doi:10.1136/bmj.l4898
.. [2] Sterne JAC, Hernán MA, Reeves BC, et al. (2016). ROBINS-I: a tool for assessing risk of
       bias in non-randomised studies of interventions. *BMJ* 355:i4919.
       doi:10.1136/bmj.i4919
.. [3] McGuinness LA, Higgins JPT (2021). Risk-of-bias VISualization (robvis): an R package
       and Shiny web app for visualizing risk-of-bias assessments. *Res Synth Methods*
       12(1):55-61. doi:10.1002/jrsm.1411
.. [4] Guyatt GH, Oxman AD, Vist G, et al. (2011). GRADE guidelines: 4. Rating the quality of
       evidence -- study limitations (risk of bias). *J Clin Epidemiol* 64(4):407-415.
       doi:10.1016/j.jclinepi.2010.07.017

Examples
--------
>>> import pandas as pd
>>> from evsynth.reports.rob import read_risk_of_bias, share_of_weight_high_risk
>>> studies = pd.DataFrame({
...     "study_id": ["Kallmes 2009", "Buchbinder 2009"],
...     "rob_d1": ["low", "Low"], "rob_d2": ["low", "some concerns"],
...     "rob_d3": ["low", "low"], "rob_d4": ["low", "low"], "rob_d5": ["Some", "low"],
...     "rob_overall": ["some concerns", "some concerns"]})
>>> rob = read_risk_of_bias(studies)
>>> rob.table().loc[1, ["study", "D2", "D5", "overall"]].tolist()
['Buchbinder 2009', 'some concerns', 'low', 'some concerns']
>>> fig = rob.traffic_light()
>>> share_of_weight_high_risk([60, 40], ["high", "low"])["percent"]
60.0
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evsynth.errors import InputError
from evsynth.files import inside_folder
from evsynth.models.results import ResultMixin
from evsynth.textsafe import html_text

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["COLOURS", "ROB2", "ROBINS_I", "TOOLS", "ForestRobColumns", "RiskOfBias", "RobTool",
           "analysis_high_risk_share", "draw_forest_columns", "load_risk_of_bias",
           "long_table_path", "normalise_judgement",
           "read_risk_of_bias", "share_of_weight_high_risk", "tool_of"]

#: robvis's "cochrane" palette (robvis ``get_colour``; McGuinness & Higgins 2021)
COLOURS: dict[str, str] = {"low": "#02C100", "concerns": "#E2DF07", "high": "#BF0000",
                           "critical": "#820000", "ni": "#4EA1F7", "na": "#CCCCCC"}
#: the optional long table of a review folder
LONG_FILE = "risk_of_bias.csv"
#: the columns risk_of_bias.csv must have (``outcome``, ``support`` and ``tool`` are optional)
LONG_COLUMNS = ("study", "domain", "judgement")
#: colour and label of a judgement left empty ("not assessed")
NOT_ASSESSED = "not assessed"


@dataclass(frozen=True)
class RobTool:
    """One risk-of-bias tool: its domains, judgements (mildest first), symbols and colours."""

    key: str
    name: str
    domains: tuple[str, ...]            # full names, D1 first
    short: tuple[str, ...]              # short names for narrow tables
    judgements: tuple[str, ...]         # canonical, mildest first ("no information" last)
    symbols: dict[str, str]
    colours: dict[str, str]
    labels: dict[str, str]              # legend labels
    severity: dict[str, int]            # rank for the overall check (None: not ranked)
    high: tuple[str, ...]               # judgements counted as "high risk" (GRADE prompt)
    synonyms: dict[str, str] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[str, ...]:
        """Domain codes ``D1`` ... and ``overall``."""
        return (*(f"D{i + 1}" for i in range(len(self.domains))), "overall")

    def expected(self) -> str:
        """The accepted judgements as a sentence for messages."""
        extra = sorted({k for k, v in self.synonyms.items() if k not in self.judgements})
        return (f"one of {', '.join(self.judgements)} ({self.name}; case-insensitive"
                + (f"; also {', '.join(repr(x) for x in extra)}" if extra else "") + ")")


def _syn(base: dict[str, str]) -> dict[str, str]:
    out = dict(base)
    for k, v in list(base.items()):
        if k == v:
            out[f"{k} risk"] = v
            out[f"{k} risk of bias"] = v
    return out


ROB2 = RobTool(
    key="rob2", name="RoB 2",
    domains=("Bias arising from the randomization process",
             "Bias due to deviations from intended interventions",
             "Bias due to missing outcome data",
             "Bias in measurement of the outcome",
             "Bias in selection of the reported result"),
    short=("Randomisation", "Deviations", "Missing data", "Measurement", "Reporting"),
    judgements=("low", "some concerns", "high"),
    symbols={"low": "+", "some concerns": "-", "high": "X"},
    colours={"low": COLOURS["low"], "some concerns": COLOURS["concerns"],
             "high": COLOURS["high"]},
    labels={"low": "Low risk", "some concerns": "Some concerns", "high": "High risk"},
    severity={"low": 0, "some concerns": 1, "high": 2},
    high=("high",),
    synonyms=_syn({"low": "low", "some concerns": "some concerns", "high": "high",
                   "some": "some concerns", "some concern": "some concerns",
                   "unclear": "some concerns"}),
)

ROBINS_I = RobTool(
    key="robins-i", name="ROBINS-I",
    domains=("Bias due to confounding",
             "Bias in selection of participants into the study",
             "Bias in classification of interventions",
             "Bias due to deviations from intended interventions",
             "Bias due to missing data",
             "Bias in measurement of outcomes",
             "Bias in selection of the reported result"),
    short=("Confounding", "Selection", "Classification", "Deviations", "Missing data",
           "Measurement", "Reporting"),
    judgements=("low", "moderate", "serious", "critical", "no information"),
    symbols={"low": "+", "moderate": "-", "serious": "X", "critical": "!",
             "no information": "?"},
    colours={"low": COLOURS["low"], "moderate": COLOURS["concerns"],
             "serious": COLOURS["high"], "critical": COLOURS["critical"],
             "no information": COLOURS["ni"]},
    labels={"low": "Low", "moderate": "Moderate", "serious": "Serious", "critical": "Critical",
            "no information": "No information"},
    severity={"low": 0, "moderate": 1, "serious": 2, "critical": 3},
    high=("serious", "critical"),
    synonyms=_syn({"low": "low", "moderate": "moderate", "serious": "serious",
                   "critical": "critical", "no information": "no information",
                   "ni": "no information", "no info": "no information"}),
)

#: tool code (lower case, spaces/underscores removed) -> tool
TOOLS: dict[str, RobTool] = {"rob2": ROB2, "robins-i": ROBINS_I, "robinsi": ROBINS_I}

#: named columns of the review schema (studies.csv) -> RoB 2 domain code
NAMED_COLUMNS = {"rob_randomisation": "D1", "rob_deviations": "D2", "rob_missing": "D3",
                 "rob_measurement": "D4", "rob_selection": "D5"}


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and not v.strip():
        return True
    try:
        import pandas as pd

        return v is pd.NA or v is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def tool_of(value: Any, where: str = "argument 'tool'") -> RobTool:
    """The tool named by ``value`` (``"rob2"``, ``"RoB 2"``, ``"ROBINS-I"``, ...; a
    :class:`RobTool` is returned as it is).

    Parameters
    ----------
    value : str or RobTool
        The tool's code or name, case-insensitive.
    where : str
        Where the value comes from, for the message.

    Returns
    -------
    RobTool

    Examples
    --------
    >>> tool_of("ROBINS-I").name, tool_of("rob 2").domains[0]
    ('ROBINS-I', 'Bias arising from the randomization process')
    """
    if isinstance(value, RobTool):
        return value
    if isinstance(value, str):
        key = re.sub(r"[\s_]", "", value.strip().lower())
        if key in TOOLS:
            return TOOLS[key]
    raise InputError(f"{where} is {value!r}; expected 'rob2' (RoB 2, randomised trials) or "
                     "'robins-i' (ROBINS-I, non-randomised studies), case-insensitive")


def normalise_judgement(value: Any, tool: Any = "rob2", where: str = "judgement") -> str | None:
    """A judgement in the tool's canonical spelling; None for an empty cell (not assessed).

    Parameters
    ----------
    value : str or None
        The judgement as written (case-insensitive; synonyms in the module docstring).
    tool : str or RobTool
        ``"rob2"`` or ``"robins-i"``.
    where : str
        File, row, study and field, for the message.

    Returns
    -------
    str or None

    Raises
    ------
    InputError
        A value the tool does not allow, naming ``where`` and the accepted values.

    Examples
    --------
    >>> normalise_judgement("Some", "rob2"), normalise_judgement("NI", "robins-i")
    ('some concerns', 'no information')
    """
    t = tool_of(tool)
    if _missing(value):
        return None
    if isinstance(value, str):
        key = " ".join(value.strip().lower().split())
        if key in t.synonyms:
            return t.synonyms[key]
    raise InputError(f"{where} is {value!r}; expected {t.expected()}, or empty (not assessed)")


def _domain_code(value: Any, tool: RobTool, where: str) -> str:
    """``D1``..``Dn`` or ``overall`` from a code, a column name or a domain name."""
    if isinstance(value, str):
        s = " ".join(value.strip().lower().split())
        s = s.removeprefix("rob_")
        if s in ("overall", "overall risk of bias", "overall bias"):
            return "overall"
        m = re.fullmatch(r"d\s*(\d+)", s)
        if m and 1 <= int(m.group(1)) <= len(tool.domains):
            return f"D{int(m.group(1))}"
        for i, (full, short) in enumerate(zip(tool.domains, tool.short, strict=True)):
            if s in (full.lower(), short.lower()):
                return f"D{i + 1}"
        if tool is ROB2:
            for col, code in NAMED_COLUMNS.items():
                if s == col.removeprefix("rob_"):
                    return code
    raise InputError(f"{where} is {value!r}; expected a {tool.name} domain: "
                     f"{', '.join(tool.codes)} or a domain name (e.g. {tool.domains[0]!r})")


def _records(data: Any, name: str) -> list[dict[str, Any]]:
    """Rows of a DataFrame, a list of dicts or a dict of columns, as dicts."""
    if data is None:
        return []
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        return [dict(r) for r in data.to_dict("records")]
    if isinstance(data, Mapping):
        import pandas as pd

        try:
            return [dict(r) for r in pd.DataFrame(data).to_dict("records")]
        except ValueError as exc:
            raise InputError(f"{name}: {exc}") from None
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        out = []
        for i, r in enumerate(data):
            if not isinstance(r, Mapping):
                raise InputError(f"{name} row {i + 1} is a {type(r).__name__}; expected a dict "
                                 "of column values")
            out.append(dict(r))
        return out
    raise InputError(f"{name} is a {type(data).__name__}; expected a pandas DataFrame, a list "
                     "of dicts or a dict of columns")


def _text(v: Any) -> str | None:
    return None if _missing(v) else str(v).strip()


def _check_overall(values: dict[str, str | None], tool: RobTool, where: str) -> None:
    """The overall judgement may not be milder than the most severe domain judgement; an
    overall "no information" (ROBINS-I) only where no domain is at serious or critical risk
    (Sterne et al. 2016, BMJ 355:i4919, Table 3: "no clear indication that the study is at
    serious or critical risk of bias"), else a critical domain hid behind it and the study
    counted as not at high risk (fuzz round 5)."""
    overall = values.get("overall")
    if overall is None:
        return
    ranked = [(tool.severity[v], code) for code, v in values.items()
              if code != "overall" and v in tool.severity]
    if not ranked:
        return
    worst, code = max(ranked)
    if overall not in tool.severity:
        if overall == "no information" and values[code] in tool.high:
            raise InputError(f"{where}: overall judgement 'no information' but {code} is "
                             f"{values[code]!r}; {tool.name}'s overall 'no information' is "
                             "for studies with no clear indication of serious or critical "
                             "risk (Sterne 2016, Table 3): expected an overall judgement of at "
                             f"least {values[code]!r}")
        return
    if tool.severity[overall] < worst:
        raise InputError(f"{where}: overall judgement {overall!r} is milder than {code} "
                         f"({values[code]!r}); {tool.name}'s overall risk of bias is at least as "
                         "severe as the most severe domain (set the overall judgement, or pass "
                         "check_overall=False)")


def _table_caption(tool: RobTool, outcome: str | None) -> str:
    return f"Risk of bias ({tool.name})" + (f" for {outcome}" if outcome else "")


def _plot_title(tool: RobTool, outcome: str | None) -> str:
    return f"Risk of bias ({tool.name})" + (f": {outcome}" if outcome else "")


def _domain_legend(tool: RobTool) -> list[str]:
    """``"D1: <domain>"`` for each domain of the tool."""
    return [f"{c}: {d}" for c, d in zip(tool.codes, tool.domains, strict=False)]


# ============================================================================== the result
class RiskOfBias(ResultMixin):
    """Risk-of-bias judgements per study (and per outcome where given), validated.

    Build it with :func:`read_risk_of_bias`. ``frame`` is the tidy table: one row per study x
    outcome x domain with ``study``, ``outcome`` (None for the study level), ``tool`` (RoB 2 /
    ROBINS-I), ``domain`` (``D1`` ... or ``overall``), ``domain_name``, ``judgement`` (None
    when not assessed) and ``support``.
    """

    _dict_fields = ("studies", "tools", "outcomes", "frame")

    def __init__(self, frame: pd.DataFrame, studies: list[str], tools: dict[str, str]) -> None:
        self.frame = frame
        self.studies = list(studies)
        self.tools = dict(tools)   # study -> tool key

    @property
    def outcomes(self) -> list[str]:
        """Outcome ids with outcome-specific judgements."""
        vals = self.frame["outcome"].dropna().unique().tolist()
        return sorted(str(v) for v in vals)

    def tool_for(self, studies: Sequence[str] | None = None) -> RobTool:
        """The one tool of ``studies`` (default all); an InputError when they mix tools."""
        ids = self.studies if studies is None else list(studies)
        keys = {self.tools[s] for s in ids if s in self.tools}
        if len(keys) > 1:
            by = {k: [s for s in ids if self.tools.get(s) == k] for k in sorted(keys)}
            listing = "; ".join(f"{TOOLS[k].name}: {', '.join(v)}" for k, v in by.items())
            raise InputError(f"risk of bias: the studies mix tools ({listing}); expected one "
                             "tool per table or plot: pass studies= of one tool")
        return TOOLS[keys.pop()] if keys else ROB2

    def _judgements(self, outcome: str | None) -> dict[str, dict[str, str | None]]:
        """study -> {code: judgement} at the study level, overridden for ``outcome``."""
        out: dict[str, dict[str, str | None]] = {}
        rows = self.frame.to_dict("records")
        for r in rows:
            if r["outcome"] is None:
                out.setdefault(r["study"], {})[r["domain"]] = r["judgement"]
        if outcome is not None:
            for r in rows:
                if r["outcome"] == outcome and r["judgement"] is not None:
                    out.setdefault(r["study"], {})[r["domain"]] = r["judgement"]
        return out

    def _study_list(self, studies: Sequence[str] | None) -> list[str]:
        if studies is None:
            return list(self.studies)
        ids = [str(s) for s in studies]
        unknown = [s for s in ids if s not in self.tools]
        if unknown:
            raise InputError(f"risk of bias: study {unknown[0]!r} is not in the risk-of-bias "
                             f"table (studies: {', '.join(self.studies)})")
        return ids

    def table(self, outcome: str | None = None, studies: Sequence[str] | None = None
              ) -> pd.DataFrame:
        """One row per study: ``study``, ``tool``, ``D1`` ... ``Dn``, ``overall``.

        Parameters
        ----------
        outcome : str, optional
            An outcome id: its outcome-specific judgements replace the study-level ones.
        studies : sequence of str, optional
            Study ids to show, in this order (default: all, in input order); they must use
            one tool.

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        ids = self._study_list(studies)
        tool = self.tool_for(ids)
        js = self._judgements(outcome)
        rows = []
        for s in ids:
            row: dict[str, Any] = {"study": s, "tool": tool.name}
            for code in tool.codes:
                row[code] = js.get(s, {}).get(code)
            rows.append(row)
        cols = ["study", "tool", *tool.codes]
        return pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in cols})

    def to_frame(self) -> pd.DataFrame:
        """The tidy table (a copy)."""
        return self.frame.copy()

    def summary_text(self) -> str:
        n = len(self.studies)
        lines = [f"Risk of bias: {n} {'study' if n == 1 else 'studies'}"]
        for key in sorted(set(self.tools.values())):
            tool = TOOLS[key]
            ids = [s for s in self.studies if self.tools[s] == key]
            tab = self.table(studies=ids)
            counts = tab["overall"].fillna(NOT_ASSESSED).value_counts()
            parts = [f"{counts[j]} {j}" for j in (*tool.judgements, NOT_ASSESSED) if j in counts]
            noun = "study" if len(ids) == 1 else "studies"
            lines.append(f"  {tool.name}: {len(ids)} {noun}; overall {', '.join(parts)}")
        if self.outcomes:
            lines.append(f"  outcome-specific judgements for: {', '.join(self.outcomes)}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- rendering
    def _header(self, tool: RobTool) -> list[str]:
        return ["Study", *(f"{c} {s}" for c, s in zip(tool.codes, tool.short, strict=False)),
                "Overall"]

    def table_block(self, outcome: str | None = None, studies: Sequence[str] | None = None,
                    caption: str | None = None) -> dict[str, Any]:
        """The table as a block of the review report (``evsynth.reports.html``'s table
        renderer: ``caption``, ``header``, ``rows`` of cells ``{"text", "cls", "aria"}``,
        ``row_header``); texts are raw (the renderer escapes them)."""
        tab = self.table(outcome, studies)
        tool = self.tool_for(list(tab["study"]))
        rows = []
        for r in tab.to_dict("records"):
            cells: list[Any] = [r["study"]]
            for code in tool.codes:
                j = r[code]
                cells.append({"text": tool.symbols[j] if j else "",
                              "cls": "rob-" + (j or "na").replace(" ", "-"),
                              "aria": j or NOT_ASSESSED})
            rows.append(cells)
        return {"kind": "table", "cls": "rob",
                "caption": caption or _table_caption(tool, outcome),
                "header": self._header(tool), "rows": rows, "row_header": True,
                "legend": _domain_legend(tool)}

    def to_html(self, outcome: str | None = None, studies: Sequence[str] | None = None) -> str:
        """The table as an HTML ``<table>`` (every text escaped; judgements as coloured cells
        with their symbol and words).

        Parameters
        ----------
        outcome, studies : as in :meth:`table`.

        Returns
        -------
        str
        """
        tab = self.table(outcome, studies)
        tool = self.tool_for(list(tab["study"]))
        e = html_text
        out = ['<table class="rob">', f"<caption>{e(_table_caption(tool, outcome))}"
               "</caption>", "<thead><tr>"
               + "".join(f'<th scope="col">{e(h)}</th>' for h in self._header(tool))
               + "</tr></thead>", "<tbody>"]
        for r in tab.to_dict("records"):
            cells = [f'<th scope="row">{e(str(r["study"]))}</th>']
            for code in tool.codes:
                j = r[code]
                colour = tool.colours.get(j, COLOURS["na"]) if j else COLOURS["na"]
                sym = tool.symbols[j] if j else ""
                cells.append(f'<td class="rob-{e((j or "na").replace(" ", "-"))}" '
                             f'style="background:{colour};text-align:center" '
                             f'title="{e(j or NOT_ASSESSED)}">{e(sym)} '
                             f'<span class="rob-word">{e(j or NOT_ASSESSED)}</span></td>')
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        legend = "; ".join(_domain_legend(tool))
        out.append(f'<p class="rob-legend">{e(legend)}</p>')
        return "\n".join(out)

    def to_markdown(self, outcome: str | None = None, studies: Sequence[str] | None = None
                    ) -> str:
        """The table as a GitHub-flavoured Markdown table (every text escaped).

        Parameters
        ----------
        outcome, studies : as in :meth:`table`.

        Returns
        -------
        str
        """
        from evsynth.reports.markdown import md

        tab = self.table(outcome, studies)
        tool = self.tool_for(list(tab["study"]))
        head = self._header(tool)
        lines = ["| " + " | ".join(md(h) for h in head) + " |",
                 "|" + "|".join("---" for _ in head) + "|"]
        for r in tab.to_dict("records"):
            cells = [md(r["study"])]
            for code in tool.codes:
                j = r[code]
                cells.append(md(f"{tool.symbols[j]} {j}") if j else md(NOT_ASSESSED))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(md("; ".join(_domain_legend(tool))))
        return "\n".join(lines) + "\n"

    # ---------------------------------------------------------------- plots
    def traffic_light(self, outcome: str | None = None, studies: Sequence[str] | None = None,
                      *, labels: Mapping[str, str] | None = None) -> Figure:
        """robvis's traffic-light plot: studies (rows) x domains and overall (columns).

        Each judgement is a circle in its colour with its symbol (``+`` low, ``-`` some
        concerns / moderate, ``X`` high / serious, ``!`` critical, ``?`` no information); an
        empty circle is "not assessed". Legend with the domains and judgements below.

        Parameters
        ----------
        outcome, studies : as in :meth:`table`.
        labels : mapping, optional
            Study id -> label shown (e.g. "Kallmes 2009 (INVEST)").

        Returns
        -------
        matplotlib.figure.Figure
        """
        tab = self.table(outcome, studies)
        tool = self.tool_for(list(tab["study"]))
        return _traffic_light(tab, tool, labels or {}, outcome)

    def summary_plot(self, outcome: str | None = None, studies: Sequence[str] | None = None,
                     *, weights: Sequence[float] | Mapping[str, float] | None = None,
                     overall: bool = True) -> Figure:
        """robvis's summary plot: one horizontal bar per domain (and overall), split into the
        percentage of studies (or of ``weights``) at each judgement.

        Parameters
        ----------
        outcome, studies : as in :meth:`table`.
        weights : sequence (one per study shown) or mapping study -> weight, optional
            Meta-analysis weights: the bars show the share of the weight (robvis
            ``weighted = TRUE``). Default: each study counts once.
        overall : bool
            Add the overall bar.

        Returns
        -------
        matplotlib.figure.Figure
        """
        tab = self.table(outcome, studies)
        tool = self.tool_for(list(tab["study"]))
        w = _weights(weights, list(tab["study"]))
        return _summary_plot(tab, tool, w, overall, outcome)

    def shares(self, outcome: str | None = None, studies: Sequence[str] | None = None, *,
               weights: Sequence[float] | Mapping[str, float] | None = None) -> pd.DataFrame:
        """The numbers of :meth:`summary_plot`: per domain, the percentage of studies (or of
        the weight) at each judgement (``not assessed`` included), rows summing to 100.

        Returns
        -------
        pandas.DataFrame
            Index: domain codes; columns: the tool's judgements and ``not assessed``.
        """
        tab = self.table(outcome, studies)
        tool = self.tool_for(list(tab["study"]))
        return _shares(tab, tool, _weights(weights, list(tab["study"])))

    def forest_columns(self, studies: Sequence[str], outcome: str | None = None
                       ) -> ForestRobColumns:
        """The RevMan-style risk-of-bias columns beside a forest plot, one row per study.

        Parameters
        ----------
        studies : sequence of str
            The forest plot's study ids, in its row order.
        outcome : str, optional
            The analysis's outcome id (outcome-specific judgements apply).

        Returns
        -------
        ForestRobColumns
        """
        tab = self.table(outcome, studies)
        tool = self.tool_for(list(tab["study"]))
        letters = [chr(ord("A") + i) for i in range(len(tool.codes))]
        rows = []
        for r in tab.to_dict("records"):
            rows.append([(r[c], tool.symbols.get(r[c], "") if r[c] else "",
                          tool.colours.get(r[c], COLOURS["na"]) if r[c] else COLOURS["na"])
                         for c in tool.codes])
        legend = [f"({ltr}) {name}" for ltr, name in
                  zip(letters, (*tool.domains, "Overall risk of bias"), strict=True)]
        return ForestRobColumns(tool=tool.name, studies=list(tab["study"]), letters=letters,
                                codes=list(tool.codes), rows=rows, legend=legend)


@dataclass
class ForestRobColumns:
    """The risk-of-bias columns of a forest plot (RevMan layout): one circle per domain and
    the overall judgement for each study, under the letters A, B, ...

    ``rows[i][j]`` is ``(judgement or None, symbol, colour)`` of study ``studies[i]`` in column
    ``letters[j]`` (the last column is the overall judgement); ``legend`` the lines
    "(A) Bias arising from the randomization process", ... to print under the plot.
    """

    tool: str
    studies: list[str]
    letters: list[str]
    codes: list[str]
    rows: list[list[tuple[str | None, str, str]]]
    legend: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {"tool": self.tool, "studies": self.studies, "letters": self.letters,
                "codes": self.codes, "legend": self.legend,
                "rows": [[{"judgement": j, "symbol": s, "colour": c} for j, s, c in row]
                         for row in self.rows]}


def draw_forest_columns(ax: Axes, ys: Sequence[float], columns: ForestRobColumns, *,
                        x0: float, dx: float = 0.2, header_y: float | None = None,
                        size: float = 9.0, fontsize: float = 6.5) -> None:
    """Draw risk-of-bias columns on an existing Axes (e.g. beside a forest plot).

    Each study row ``ys[i]`` (data coordinates of ``ax``) gets one filled circle per column at
    ``x0 + j * dx`` with its symbol in white (black on yellow); ``header_y`` puts the letters
    above the columns. Markers are sized in points, so the circles stay round on any Axes.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    ys : sequence of float
        The y coordinate of each study row, in ``columns.studies`` order.
    columns : ForestRobColumns
        From :meth:`RiskOfBias.forest_columns`.
    x0, dx : float
        x of the first column and the spacing (data coordinates).
    header_y : float, optional
        y of the letters row.
    size, fontsize : float
        Circle diameter and symbol size in points.

    Returns
    -------
    None

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> rob = read_risk_of_bias(pd.DataFrame({"study_id": ["A", "B"], "rob_d1": ["low", "high"],
    ...                                       "rob_overall": ["low", "high"]}))
    >>> cols = rob.forest_columns(["B", "A"])
    >>> cols.letters, cols.rows[0][0][:2]
    (['A', 'B', 'C', 'D', 'E', 'F'], ('high', 'X'))
    >>> ax = Figure().add_subplot()
    >>> draw_forest_columns(ax, [1.0, 2.0], cols, x0=0.0, header_y=0.0)
    """
    if len(ys) != len(columns.rows):
        raise InputError(f"draw_forest_columns: {len(ys)} row positions for "
                         f"{len(columns.rows)} studies; expected one per study")
    for j, letter in enumerate(columns.letters):
        x = x0 + j * dx
        if header_y is not None:
            ax.text(x, header_y, letter, ha="center", va="center", fontsize=fontsize + 1,
                    fontweight="bold", gid=f"rob-head-{letter}")
        xs, yy, cs, edge = [], [], [], []
        for y, row in zip(ys, columns.rows, strict=True):
            j_, sym, colour = row[j]
            xs.append(x)
            yy.append(y)
            cs.append(colour if j_ else "white")
            edge.append("#555555" if not j_ else colour)
            if sym:
                ax.text(x, y, sym, ha="center", va="center", fontsize=fontsize,
                        fontweight="bold", color=_ink(colour))
        ax.scatter(xs, yy, s=size ** 2, c=cs, edgecolors=edge, linewidths=0.6, zorder=2,
                   gid=f"rob-col-{letter}")
        for t in ax.texts[-len(xs):]:
            t.set_zorder(3)


def _ink(colour: str) -> str:
    """Black on light fills (the yellow of "some concerns"), white otherwise."""
    c = colour.lstrip("#")
    r, g, b = (int(c[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.6 else "white"


# ============================================================================== reading
def read_risk_of_bias(studies: Any, long: Any = None, *, tool: Any = "rob2",
                      studies_file: str = "studies.csv", long_file: str = LONG_FILE,
                      check_overall: bool = True) -> RiskOfBias:
    """Read and validate risk-of-bias judgements from studies.csv (and risk_of_bias.csv).

    Parameters
    ----------
    studies : DataFrame, list of dicts or dict of columns
        studies.csv (or results.json's ``studies``): ``study_id``, optional ``rob_tool``,
        ``rob_d1`` ... ``rob_d7``, ``rob_overall`` (and the RoB 2 named columns
        ``rob_randomisation`` ... ``rob_selection``); see the module docstring.
    long : DataFrame, list of dicts or dict of columns, optional
        risk_of_bias.csv: ``study``, ``outcome``, ``domain``, ``judgement``, ``support``,
        optional ``tool``.
    tool : str
        The tool of studies without ``rob_tool``: ``"rob2"`` (default) or ``"robins-i"``.
    studies_file, long_file : str
        File names used in messages.
    check_overall : bool
        Refuse an overall judgement milder than the most severe domain (both tools' rule).

    Returns
    -------
    RiskOfBias

    Raises
    ------
    InputError
        Naming the file, line, study and field of a bad value (unknown judgement or domain,
        a study of risk_of_bias.csv not in studies.csv, conflicting values).

    References
    ----------
    .. [1] Sterne JAC et al. (2019). RoB 2. *BMJ* 366:l4898. doi:10.1136/bmj.l4898
    .. [2] Sterne JAC et al. (2016). ROBINS-I. *BMJ* 355:i4919. doi:10.1136/bmj.i4919

    Examples
    --------
    >>> rob = read_risk_of_bias([{"study_id": "S1", "rob_tool": "ROBINS-I", "rob_d1": "Serious",
    ...                           "rob_overall": "serious"}])
    >>> rob.table().loc[0, ["tool", "D1", "D7", "overall"]].tolist()
    ['ROBINS-I', 'serious', None, 'serious']
    """
    import pandas as pd

    default = tool_of(tool)
    rows = _records(studies, studies_file)
    ids: list[str] = []
    tools: dict[str, str] = {}
    values: dict[tuple[str, str | None], dict[str, str | None]] = {}
    support: dict[tuple[str, str | None, str], str | None] = {}
    for i, r in enumerate(rows):
        line = f"{studies_file} line {i + 2}"
        sid = _text(r.get("study_id"))
        if sid is None:
            raise InputError(f"{line}: field 'study_id' is missing; expected a study id")
        where = f"{line} (study {sid!r})"
        if sid in tools:
            raise InputError(f"{where}: study_id {sid!r} appears twice; expected one row per "
                             "study")
        raw_tool = r.get("rob_tool")
        t = default if _missing(raw_tool) else tool_of(raw_tool, f"{where}: field 'rob_tool'")
        ids.append(sid)
        tools[sid] = t.key
        vals: dict[str, str | None] = dict.fromkeys(t.codes)
        for key, value in r.items():
            k = str(key).strip().lower()
            code = None
            if k == "rob_overall":
                code = "overall"
            elif re.fullmatch(r"rob_d\d+", k):
                n = int(k[5:])
                if n > len(t.domains):
                    if not _missing(value):
                        raise InputError(f"{where}: field {key!r} is {value!r}; {t.name} has "
                                         f"domains D1-D{len(t.domains)} only")
                    continue
                code = f"D{n}"
            elif k in NAMED_COLUMNS:
                if t is not ROB2:
                    if not _missing(value):
                        raise InputError(f"{where}: field {key!r} is a RoB 2 domain but the "
                                         f"study is assessed with {t.name}; expected "
                                         f"rob_d1 ... rob_d{len(t.domains)}")
                    continue
                code = NAMED_COLUMNS[k]
            if code is None:
                continue
            j = normalise_judgement(value, t, f"{where}: field {key!r}")
            if j is None:
                continue
            if vals[code] is not None and vals[code] != j:
                raise InputError(f"{where}: field {key!r} is {value!r} but {code} is already "
                                 f"{vals[code]!r} from another column; expected one value")
            vals[code] = j
        values[(sid, None)] = vals
    for i, r in enumerate(_records(long, long_file)):
        line = f"{long_file} line {i + 2}"
        sid = _text(r.get("study"))
        if sid is None:
            raise InputError(f"{line}: field 'study' is missing; expected a study_id of "
                             f"{studies_file}")
        where = f"{line} (study {sid!r})"
        if sid not in tools:
            raise InputError(f"{where}: field 'study' is {sid!r}, which is not in "
                             f"{studies_file}; expected one of its study_id values")
        t = TOOLS[tools[sid]]
        if not _missing(r.get("tool")):
            lt = tool_of(r.get("tool"), f"{where}: field 'tool'")
            if lt is not t:
                raise InputError(f"{where}: field 'tool' is {r.get('tool')!r} but the study is "
                                 f"assessed with {t.name} in {studies_file}; expected one tool "
                                 "per study")
        outcome = _text(r.get("outcome"))
        code = _domain_code(r.get("domain"), t, f"{where}: field 'domain'")
        j = normalise_judgement(r.get("judgement"), t, f"{where}: field 'judgement'")
        vals = values.setdefault((sid, outcome), dict.fromkeys(t.codes))
        if j is not None:
            if outcome is None and vals[code] is not None and vals[code] != j:
                raise InputError(f"{where}: study-level {code} is {j!r} here but "
                                 f"{vals[code]!r} in {studies_file}; expected one value (give "
                                 "an outcome for an outcome-specific judgement)")
            if outcome is not None and vals[code] is not None and vals[code] != j:
                raise InputError(f"{where}: {code} for outcome {outcome!r} is given twice "
                                 f"({vals[code]!r} and {j!r}); expected one row")
            vals[code] = j
        s = _text(r.get("support"))
        if s is not None:
            support[(sid, outcome, code)] = s
    if check_overall:
        for (sid, outcome), vals in values.items():
            t = TOOLS[tools[sid]]
            merged = dict(values[(sid, None)])
            if outcome is not None:
                merged.update({k: v for k, v in vals.items() if v is not None})
            what = f"study {sid!r}" + (f", outcome {outcome!r}" if outcome else "")
            _check_overall(merged, t, f"risk of bias of {what}")
    out = []
    for (sid, outcome), vals in values.items():
        t = TOOLS[tools[sid]]
        names = (*t.domains, "Overall risk of bias")
        for code, name in zip(t.codes, names, strict=True):
            if outcome is not None and vals[code] is None and \
                    (sid, outcome, code) not in support:
                continue
            out.append({"study": sid, "outcome": outcome, "tool": t.name, "domain": code,
                        "domain_name": name, "judgement": vals[code],
                        "support": support.get((sid, outcome, code))})
    cols = ["study", "outcome", "tool", "domain", "domain_name", "judgement", "support"]
    frame = pd.DataFrame({c: pd.Series([r[c] for r in out], dtype=object) for c in cols})
    return RiskOfBias(frame, ids, tools)


def _empty_file(path: Path, columns: Sequence[str], rows: str) -> str:
    return (f"{path}: the file is empty; expected a header row with the columns "
            f"{', '.join(columns)} (then one row per {rows})")


def long_table_path(folder: str | os.PathLike[str]) -> Path | None:
    """``risk_of_bias.csv`` of the review folder ``folder``, or None when it has none.

    Checked without reading it as a table, so that every reader (``evsynth validate``,
    ``evsynth run``, :func:`load_risk_of_bias`) refuses the same files with the same message:
    it must resolve inside the folder (like the other input files: no symlink pointing out),
    be a file, and hold at least a header row (an empty file is an
    :class:`~evsynth.errors.InputError` naming it and the columns expected).
    """
    base = Path(folder)
    path = base / LONG_FILE
    if not os.path.lexists(path):
        return None
    inside_folder(base, LONG_FILE, str(path))
    if not path.is_file():
        raise InputError(f"{path}: is not a file; expected a CSV file with the columns "
                         f"{', '.join(LONG_COLUMNS)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc}); expected a UTF-8 CSV "
                         "file") from None
    if not raw.removeprefix(b"\xef\xbb\xbf").strip():
        raise InputError(_empty_file(path, LONG_COLUMNS, "judgement"))
    return path


def read_table(path: Path, columns: tuple[str, ...], rows: str) -> Any:
    """A review CSV (all cells text) as a DataFrame; an :class:`InputError` naming ``path``
    when it cannot be read, is empty (no header; ``rows``: what each row holds) or lacks one
    of ``columns``. The reader of studies.csv and risk_of_bias.csv for risk of bias."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:  # 0 bytes, or blank lines only: not even a header
        raise InputError(_empty_file(path, columns, rows)) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read ({exc}); expected a UTF-8 CSV file") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: line 1 (header): missing column(s) "
                         f"{', '.join(repr(m) for m in missing)}; found "
                         f"{', '.join(map(str, frame.columns))}; expected a header row "
                         f"with the columns {', '.join(columns)}")
    return frame


def load_risk_of_bias(folder: str | os.PathLike[str], *, tool: Any = "rob2",
                      check_overall: bool = True) -> RiskOfBias | None:
    """Read ``studies.csv`` and, when present, ``risk_of_bias.csv`` of a review folder.

    Parameters
    ----------
    folder : str or path-like
        The review folder.
    tool : str
        Tool of studies without ``rob_tool`` (see :func:`read_risk_of_bias`).
    check_overall : bool
        As :func:`read_risk_of_bias`.

    Returns
    -------
    RiskOfBias or None
        None when no study has a risk-of-bias judgement and there is no risk_of_bias.csv.

    References
    ----------
    .. [1] Sterne JAC et al. (2019). RoB 2. *BMJ* 366:l4898. doi:10.1136/bmj.l4898

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "studies.csv").write_text("study_id,rob_overall\\nA,Low\\n")
    ...     load_risk_of_bias(d).table().loc[0, "overall"]
    'low'
    """
    base = Path(folder)
    studies = read_table(base / "studies.csv", ("study_id",), "study")
    long_path = long_table_path(base)
    long = read_table(long_path, LONG_COLUMNS, "judgement") if long_path is not None else None
    rob_cols = [c for c in studies.columns
                if str(c).lower() == "rob_overall" or re.fullmatch(r"rob_d\d+", str(c).lower())
                or str(c).lower() in NAMED_COLUMNS]
    if long is None and not any((studies[c].str.strip() != "").any() for c in rob_cols):
        return None
    return read_risk_of_bias(studies, long, tool=tool, check_overall=check_overall)


# ============================================================================== weights
def _weights(weights: Any, studies: list[str]) -> list[float] | None:
    """Weights in the order of ``studies`` (a sequence of the same length or a mapping)."""
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        missing = [s for s in studies if s not in weights]
        if missing:
            raise InputError(f"argument 'weights' has no weight for study {missing[0]!r}; "
                             "expected one per study")
        vals = [weights[s] for s in studies]
    else:
        vals = list(weights)
        if len(vals) != len(studies):
            raise InputError(f"argument 'weights' has {len(vals)} values for {len(studies)} "
                             "studies; expected one per study")
    out = []
    for s, v in zip(studies, vals, strict=True):
        if isinstance(v, bool):
            v = None
        try:
            x = float(v)
        except (TypeError, ValueError):
            x = math.nan
        if not math.isfinite(x) or x < 0:
            raise InputError(f"study {s!r}: field 'weight' is {v!r}; expected a finite number "
                             ">= 0")
        out.append(x)
    if sum(out) <= 0:
        raise InputError("argument 'weights': the weights sum to 0; expected a positive total")
    return out


def share_of_weight_high_risk(weights: Sequence[Any] | Mapping[str, Any],
                              judgements: Sequence[Any] | Mapping[str, Any],
                              *, tool: Any = None) -> dict[str, Any]:
    """The share of the meta-analysis weight from studies at high risk of bias (GRADE prompt).

    GRADE rates down for risk of bias when most of the information (weight) comes from studies
    at high risk, and considers the studies that contribute most weight rather than counting
    studies (Guyatt et al. 2011, GRADE guidelines 4; GRADE Handbook 5.2.1). This gives the
    numbers for that prompt; the judgement stays the reviewers'.

    "High risk" is RoB 2 ``high`` and ROBINS-I ``serious`` or ``critical`` (overall
    judgements). Studies not assessed are counted separately.

    Parameters
    ----------
    weights : sequence of float or mapping study -> weight
        The studies' weights in the meta-analysis (percent or any non-negative scale).
    judgements : sequence or mapping study -> judgement
        Each study's overall risk of bias (same order, or the same keys, as ``weights``).
    tool : str, optional
        ``"rob2"`` or ``"robins-i"``; default: either tool's judgements are accepted.

    Returns
    -------
    dict
        ``share`` (0-1) and ``percent`` of the weight at high risk, ``k``, ``k_high``,
        ``shares`` (percent of the weight per judgement, "not assessed" included),
        ``most_weight_high`` (share > 50%) and ``text`` (the prompt sentence).

    References
    ----------
    .. [1] Guyatt GH, Oxman AD, Vist G, et al. (2011). GRADE guidelines: 4. Rating the quality
           of evidence -- study limitations (risk of bias). *J Clin Epidemiol* 64(4):407-415.
           doi:10.1016/j.jclinepi.2010.07.017
    .. [2] Schünemann H, Brożek J, Guyatt G, Oxman A, eds. (2013). GRADE Handbook, section
           5.2.1 (study limitations). https://gdt.gradepro.org/app/handbook/handbook.html

    Examples
    --------
    >>> r = share_of_weight_high_risk({"A": 40.0, "B": 35.0, "C": 25.0},
    ...                               {"A": "high", "B": "low", "C": "Some concerns"})
    >>> r["percent"], r["most_weight_high"]
    (40.0, False)
    >>> r["text"]
    '40% of the weight (1 of 3 studies) comes from studies at high risk of bias'
    """
    if isinstance(judgements, Mapping):
        studies = [str(s) for s in judgements]
        js = [judgements[s] for s in judgements]
        if isinstance(weights, Mapping):
            missing = [s for s in studies if s not in weights]
            if missing:
                raise InputError(f"argument 'weights' has no weight for study {missing[0]!r}; "
                                 "expected the same studies as 'judgements'")
    else:
        js = list(judgements)
        studies = ([str(s) for s in weights] if isinstance(weights, Mapping)
                   else [f"in row {i + 1}" for i in range(len(js))])
        if len(studies) != len(js):
            raise InputError(f"argument 'judgements' has {len(js)} values for {len(studies)} "
                             "weights; expected one per study")
    w = _weights(weights, studies)
    assert w is not None
    if tool is None:
        tools = [ROB2, ROBINS_I]
    else:
        tools = [tool_of(tool)]
    canon: list[str | None] = []
    for s, j in zip(studies, js, strict=True):
        where = f"study {s!r}: field 'judgement'" if not s.startswith("in row") \
            else f"study {s}: field 'judgement'"
        got: str | None = None
        err: InputError | None = None
        for t in tools:
            try:
                got = normalise_judgement(j, t, where)
                err = None
                break
            except InputError as exc:
                err = err or exc
        if err is not None:
            if len(tools) > 1:
                raise InputError(f"{where} is {j!r}; expected a RoB 2 judgement (low, some "
                                 "concerns, high) or a ROBINS-I one (low, moderate, serious, "
                                 "critical, no information)") from None
            raise err
        canon.append(got)
    high = {h for t in tools for h in t.high}
    total = sum(w)
    shares: dict[str, float] = {}
    for j, x in zip(canon, w, strict=True):
        key = j or NOT_ASSESSED
        shares[key] = shares.get(key, 0.0) + 100 * x / total
    share = sum(x for j, x in zip(canon, w, strict=True) if j in high) / total
    k_high = sum(1 for j in canon if j in high)
    pct = 100 * share
    text = (f"{_pct(pct)} of the weight ({k_high} of {len(canon)} "
            f"{'study' if len(canon) == 1 else 'studies'}) comes from studies at high risk of "
            "bias")
    na = shares.get(NOT_ASSESSED)
    if na:
        text += f"; {_pct(na)} from studies not assessed"
    return {"share": share, "percent": pct, "k": len(canon), "k_high": k_high,
            "shares": shares, "most_weight_high": share > 0.5, "text": text}


def analysis_high_risk_share(analysis: Mapping[str, Any], rob: RiskOfBias | None = None
                             ) -> dict[str, Any] | None:
    """:func:`share_of_weight_high_risk` for one analysis of results.json.

    The weights are the studies' ``weight`` (percent in the main model); the judgements the
    overall risk of bias from ``rob`` for the analysis's outcome (outcome-specific where
    given) or, without ``rob``, each study's ``risk_of_bias`` field.

    Parameters
    ----------
    analysis : dict
        An analysis of results.json (``studies`` with ``study_id``, ``weight`` and
        ``risk_of_bias``; ``outcome.id``).
    rob : RiskOfBias, optional
        The review's risk-of-bias table.

    Returns
    -------
    dict or None
        As :func:`share_of_weight_high_risk`; None when no study contributed.

    References
    ----------
    .. [1] Guyatt GH et al. (2011). GRADE guidelines 4. *J Clin Epidemiol* 64:407-415.
           doi:10.1016/j.jclinepi.2010.07.017

    Examples
    --------
    >>> a = {"outcome": {"id": "pain"}, "studies": [
    ...     {"study_id": "A", "weight": 70.0, "risk_of_bias": "high"},
    ...     {"study_id": "B", "weight": 30.0, "risk_of_bias": "low"}]}
    >>> analysis_high_risk_share(a)["most_weight_high"]
    True
    """
    studies = [s for s in (analysis.get("studies") or []) if isinstance(s, Mapping)]
    if not studies:
        return None
    ids = [str(s.get("study_id")) for s in studies]
    # a study with several effects (multilevel and robust analyses: one row per effect)
    # carries the sum of its rows' weights (one row per study kept only the last row's)
    weights: dict[str, Any] = {}
    for i, s in zip(ids, studies, strict=True):
        w = s.get("weight")
        if i not in weights:
            weights[i] = w
        elif weights[i] is not None and w is not None:
            weights[i] = float(weights[i]) + float(w)
    if rob is not None:
        outcome = (analysis.get("outcome") or {}).get("id")
        outcome = outcome if outcome in rob.outcomes else None
        js = rob._judgements(outcome)      # studies of either tool (no one-tool table)
        return share_of_weight_high_risk(weights, {i: js.get(i, {}).get("overall")
                                                   for i in ids})
    return share_of_weight_high_risk(weights, {i: s.get("risk_of_bias")
                                               for i, s in zip(ids, studies, strict=True)})


def _pct(x: float) -> str:
    """A percentage with at most one decimal (``40%``, ``12.5%``)."""
    return f"{x:.1f}".rstrip("0").rstrip(".") + "%"


def _shares(tab: pd.DataFrame, tool: RobTool, w: list[float] | None) -> pd.DataFrame:
    import pandas as pd

    n = len(tab)
    weights = w if w is not None else [1.0] * n
    total = sum(weights)
    cats = [*tool.judgements, NOT_ASSESSED]
    data = {}
    for code in tool.codes:
        row = dict.fromkeys(cats, 0.0)
        for j, x in zip(tab[code], weights, strict=True):
            row[j or NOT_ASSESSED] += 100 * x / total if total > 0 else 0.0
        data[code] = row
    return pd.DataFrame.from_dict(data, orient="index")[cats]


# ============================================================================== drawing
def _figure(width: float, height: float) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    from evsynth.reports.forest import _new_figure

    return _new_figure(width, height, Figure)


def _traffic_light(tab: pd.DataFrame, tool: RobTool, labels: Mapping[str, str],
                   outcome: str | None) -> Figure:
    from matplotlib.lines import Line2D

    codes = list(tool.codes)
    shown = [str(labels.get(s, s)) for s in tab["study"]]
    # labels longer than ~40 characters (3 inches at 8 pt) are shortened with an ellipsis
    shown = [s if len(s) <= 40 else s[:39].rstrip() + "…" for s in shown]
    row_h, col_w = 0.32, 0.42
    label_w = min(3.2, max(1.0, 0.075 * max((len(s) for s in shown), default=5) + 0.2))
    left = 0.15 + label_w
    n_leg = len(tool.domains) + 1
    head = 0.75
    legend_h = 0.2 * n_leg + 0.5
    width = max(left + col_w * len(codes) + 0.3, 5.2)
    height = head + row_h * len(shown) + 0.2 + legend_h
    fig, ax = _figure(width, height)
    title = _plot_title(tool, outcome)
    ax.text(0.15, 0.22, title, fontsize=10, fontweight="bold", va="center", gid="rob-title")
    # panel frame and headers (robvis: grey header band with D1 ... Overall)
    top = head - 0.05
    ax.add_patch(_rect(left - 0.05, top - 0.3, col_w * len(codes) + 0.1,
                       0.3 + row_h * len(shown) + 0.05, "#EEEEEE", "#888888"))
    for j, c in enumerate(codes):
        x = left + (j + 0.5) * col_w
        ax.text(x, top - 0.15, "Overall" if c == "overall" else c, ha="center", va="center",
                fontsize=8, fontweight="bold", gid=f"rob-head-{c}")
    xs, ys, cs, ec, syms = [], [], [], [], []
    for i, (sid, lab) in enumerate(zip(tab["study"], shown, strict=True)):
        y = head + (i + 0.5) * row_h
        ax.text(left - 0.12, y, lab, ha="right", va="center", fontsize=8,
                gid=f"rob-study-{i}")
        row = tab.loc[tab["study"] == sid].iloc[0]
        for j, c in enumerate(codes):
            x = left + (j + 0.5) * col_w
            judg = row[c]
            xs.append(x)
            ys.append(y)
            cs.append(tool.colours[judg] if judg else "white")
            ec.append(tool.colours[judg] if judg else "#888888")
            if judg:
                syms.append((x, y, tool.symbols[judg], _ink(tool.colours[judg])))
    if xs:
        ax.scatter(xs, ys, s=15 ** 2, c=cs, edgecolors=ec, linewidths=0.8, zorder=2,
                   gid="rob-circles")
    for x, y, s, ink in syms:
        ax.text(x, y, s, ha="center", va="center", fontsize=9, fontweight="bold", color=ink,
                zorder=3)
    # legend: domains (left) and judgements (right)
    y0 = head + row_h * len(shown) + 0.3
    ax.text(0.15, y0, "Domains:", fontsize=7.5, fontweight="bold", va="center")
    for i, (c, name) in enumerate(zip(tool.codes[:-1], tool.domains, strict=True)):
        ax.text(0.15, y0 + 0.2 * (i + 1), f"{c}: {name}.", fontsize=7, va="center")
    handles = [Line2D([], [], marker="o", linestyle="", markersize=8,
                      markerfacecolor=tool.colours[j], markeredgecolor=tool.colours[j],
                      label=tool.labels[j]) for j in tool.judgements]
    handles.append(Line2D([], [], marker="o", linestyle="", markersize=8,
                          markerfacecolor="white", markeredgecolor="#888888",
                          label="Not assessed"))
    fig.legend(handles=handles, title="Judgement", loc="lower right", fontsize=7,
               title_fontsize=7.5, frameon=False, bbox_to_anchor=(0.99, 0.01))
    return fig


def _rect(x: float, y: float, w: float, h: float, face: str, edge: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=face, edgecolor=edge, linewidth=0.8, zorder=1)


def _summary_plot(tab: pd.DataFrame, tool: RobTool, w: list[float] | None, overall: bool,
                  outcome: str | None) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sh = _shares(tab, tool, w)
    codes = list(tool.codes if overall else tool.codes[:-1])
    names = [*tool.domains, "Overall risk of bias"][:len(codes)]
    cats = [c for c in sh.columns if c != NOT_ASSESSED or sh[c].sum() > 0]
    fig = Figure(figsize=(8.0, 0.45 * len(codes) + 1.4))
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    ax = fig.add_axes((0.42, 0.28, 0.55, 0.6))
    ys = list(range(len(codes)))
    for cat in cats:
        vals = [float(sh.loc[c, cat]) for c in codes]
        lefts = [float(sum(sh.loc[c, k] for k in cats[:cats.index(cat)])) for c in codes]
        colour = tool.colours.get(cat, COLOURS["na"])
        label = tool.labels.get(cat, "Not assessed")
        ax.barh(ys, vals, left=lefts, height=0.7, color=colour, edgecolor="black",
                linewidth=0.5, label=label, gid=f"rob-bar-{cat.replace(' ', '-')}")
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    basis = "of the weight" if w is not None else "of studies"
    ax.set_xlabel(f"Percentage {basis}", fontsize=8)
    title = _plot_title(tool, outcome)
    ax.set_title(title, fontsize=10, fontweight="bold", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.3, -0.22), ncol=len(cats), fontsize=7.5,
              frameon=False)
    return fig
