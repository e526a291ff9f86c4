"""Schema of a review folder: ``review.toml``, ``studies.csv`` and ``outcomes.csv`` (pydantic v2).

The models check one item at a time (types, allowed values, ranges, fields a row of a given kind
needs); :mod:`evsynth.review.load` turns their errors into :class:`~evsynth.errors.InputError`
messages naming the file, the TOML key or CSV line, the field and what was expected, and adds the
cross-checks between files (ids that must exist, overlapping windows, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from evsynth.textsafe import has_control

if TYPE_CHECKING:
    from evsynth.records.search import SearchStrategy
    from evsynth.records.settings import ScreeningSettings

    Searches = tuple[SearchStrategy, ...]
    Screening = ScreeningSettings
else:  # the records layer is imported when review.toml has these tables (keeps validate light)
    Searches = Any
    Screening = Any

#: effect measures per outcome kind (codes of :func:`evsynth.effect_size`)
CONTINUOUS_MEASURES = ("MD", "SMD", "SMD_CHANGE", "MD_CHANGE")
BINARY_MEASURES = ("OR", "RR", "RD")
TIME_TO_EVENT_MEASURES = ("HR",)
RATE_MEASURES = ("IRR", "IRD")
MEASURES_BY_KIND = {"continuous": CONTINUOUS_MEASURES, "binary": BINARY_MEASURES,
                    "time_to_event": TIME_TO_EVENT_MEASURES, "rate": RATE_MEASURES}
#: measures analysed on the log scale (estimates, CIs and yi are log values)
RATIO_MEASURES = ("OR", "RR", "HR", "IRR")
#: measures a contrast row (generic inverse variance) may report
CONTRAST_MEASURES = ("MD", "SMD", "OR", "RR", "RD", "HR", "IRR", "IRD")
#: value types of an arm row (one treatment group) and of a contrast row (two groups)
ARM_VALUE_TYPES = ("final", "change", "baseline_followup", "events", "rate")
CONTRAST_VALUE_TYPES = ("contrast", "o_minus_e", "logrank")
VALUE_TYPES = ARM_VALUE_TYPES + CONTRAST_VALUE_TYPES
DIFFERENCE_DIRECTIONS = ("intervention_minus_control", "control_minus_intervention", "unknown")
RATIO_DIRECTIONS = ("intervention_over_control", "control_over_intervention", "unknown")
#: which group had the lower hazard (log-rank P value rows: a P value has no sign)
LOGRANK_DIRECTIONS = ("lower_hazard_intervention", "lower_hazard_control", "unknown")
#: pooling methods of an outcome (RevMan's names: inverse variance, Mantel-Haenszel, Peto)
POOLING_METHODS = ("IV", "MH", "PETO")
#: measures each pooling method accepts
POOLING_MEASURES = {"IV": CONTINUOUS_MEASURES + BINARY_MEASURES + TIME_TO_EVENT_MEASURES
                    + RATE_MEASURES,
                    "MH": ("OR", "RR", "RD", "IRR", "IRD"), "PETO": ("OR",)}
#: Handbook 23.3.4 options for a study with several arms on one side of a comparison
MULTIARM_OPTIONS = ("combine", "split")
#: the risk-of-bias columns of studies.csv (judgements checked against the study's tool,
#: ``rob_tool``, by evsynth.reports.rob; RoB 1's "unclear" is read as RoB 2's "some concerns")
ROB_FIELDS = ("rob_randomisation", "rob_deviations", "rob_missing", "rob_measurement",
              "rob_selection", "rob_overall")
#: overall judgements counted as high risk of bias (RoB 2 "high"; ROBINS-I "serious" and
#: "critical"): the studies the "excluding high risk of bias" sensitivity analysis leaves out
HIGH_RISK = ("high", "serious", "critical")
GRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision",
                 "publication_bias")

Id = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")]


def _empty_to_none(v: Any) -> Any:
    """CSV cells: an empty or whitespace-only string is a missing value."""
    if isinstance(v, str) and not v.strip():
        return None
    if isinstance(v, str):
        return v.strip()
    return v


def _identifier_cell(v: Any) -> Any:
    """A study id cell: as :func:`_empty_to_none`; a control or bidi character is refused (an
    id names the study in every table, figure and message)."""
    v = _empty_to_none(v)
    if isinstance(v, str) and has_control(v):
        raise ValueError("holds a control character; expected printable text")
    return v


def _number_cell(v: Any) -> Any:
    """A number cell (CSV, or a number given as a string): empty means missing (as
    :func:`_empty_to_none`); a digit separator is refused. Python's and pydantic's number
    parsing accept ``_`` between digits (``"1_0"`` is 10, ``"19_88"`` 1988), but no
    spreadsheet or statistics package reads such a cell as a number: it is a typing slip, and
    taking it would silently change the data."""
    v = _empty_to_none(v)
    if isinstance(v, str) and "_" in v:
        raise ValueError("not a number: a digit separator '_' is not accepted")
    return v


OptStr = Annotated[str | None, BeforeValidator(_empty_to_none)]
OptFloat = Annotated[float | None, BeforeValidator(_number_cell)]
OptInt = Annotated[int | None, BeforeValidator(_number_cell)]


def normalise_method(v: str) -> str:
    """A tau^2 estimator name as :func:`evsynth.meta` spells it (``"reml"`` -> ``"REML"``),
    by :func:`evsynth.validation.meta_method` (the rule of every entry point)."""
    from evsynth.validation import meta_method

    return meta_method(v)


def normalise_test(v: str | None) -> str | None:
    """A test code as :func:`evsynth.meta` spells it (``"Z"`` -> ``"z"``, ``"hksj"`` ->
    ``"knha"``), by :func:`evsynth.validation.test_code`."""
    from evsynth.validation import test_code

    return None if v is None else test_code(v)


def normalise_level(v: float) -> float:
    """A confidence level in percent (95 or 0.95), by :func:`evsynth.validation.level_percent`."""
    from evsynth.validation import level_percent

    return level_percent(v)


class _Strict(BaseModel):
    """TOML tables: unknown keys are errors (a typo must not be ignored silently)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


# ============================================================================== review.toml
def normalise_pooling(v: str | None) -> str | None:
    """A pooling method code (``"iv"`` -> ``"IV"``, ``"M-H"``/``"mh"`` -> ``"MH"``,
    ``"Peto"`` -> ``"PETO"``), case-insensitive."""
    if v is None:
        return None
    code = str(v).strip().upper().replace("-", "")
    if code not in POOLING_METHODS:
        raise ValueError(f"pooling {v!r}: expected one of IV (inverse variance), MH "
                         "(Mantel-Haenszel) or Peto")
    return code


class _ZeroCells(_Strict):
    """Zero-cell options shared by ``[model]`` and ``[[outcomes]]`` (metafor's ``add``, ``to``,
    ``drop00``; a pair applies to the per-study effects and to the Mantel-Haenszel/Peto tables,
    as in metafor ``rma.mh``). None: RevMan 5's default (see :mod:`evsynth.review.pooling`)."""

    add: float | tuple[float, float] | None = None
    to: str | tuple[str, str] | None = None
    drop00: bool | tuple[bool, bool] | None = None

    @field_validator("add")
    @classmethod
    def _add(cls, v: Any) -> Any:
        vals = v if isinstance(v, tuple) else (v,)
        if v is not None and any(x < 0 for x in vals):
            raise ValueError(f"add {v!r}: expected a number >= 0 (or a pair of them)")
        return v

    @field_validator("to")
    @classmethod
    def _to(cls, v: Any) -> Any:
        vals = v if isinstance(v, tuple) else (v,)
        allowed = ("only0", "all", "if0all", "none")
        if v is not None and any(x not in allowed for x in vals):
            raise ValueError(f"to {v!r}: expected one of {', '.join(allowed)} (or a pair)")
        return v


class ModelConfig(_ZeroCells):
    """Meta-analysis model defaults (``[model]``); each outcome may override them.

    ``method`` is the tau^2 estimator of inverse-variance random effects (``EE``/``FE``/``CE``:
    common effect); ``pooling`` is ``IV``, ``MH`` or ``Peto``; ``effects`` ``random`` or
    ``common`` (default: from ``method`` for IV, ``common`` for MH and Peto).
    """

    method: str = "REML"
    test: str = "z"
    prediction_interval: bool = True
    pi_type: Literal["default", "t", "riley", "simple"] = "default"
    level: float = 95.0
    pooling: str = "IV"
    effects: Literal["random", "common"] | None = None

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        return normalise_method(v)

    @field_validator("test")
    @classmethod
    def _test(cls, v: str) -> str:
        return normalise_test(v) or "z"

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, v: float) -> float:
        return normalise_level(v)

    @field_validator("pooling")
    @classmethod
    def _pooling(cls, v: str) -> str:
        return normalise_pooling(v) or "IV"


def _names(v: str | list[str], key: str) -> list[str]:
    names = [v] if isinstance(v, str) else list(v)
    names = [n.strip() for n in names]
    if not names or any(not n for n in names):
        raise ValueError(f"{key} {v!r}: expected a treatment name or a non-empty list of them")
    if len(set(names)) < len(names):
        raise ValueError(f"{key} {v!r}: a treatment is named twice")
    return names


class Comparison(_Strict):
    """``[[comparisons]]``: intervention vs control.

    ``intervention`` and ``control`` each name a treatment, or a list of treatments lumped
    together (e.g. ``["kyphoplasty", "kyphoplasty_highdose"]``), as in the ``treatment`` column
    of outcomes.csv. Rows in the two-arm format (``arm = intervention/control`` with this
    comparison's id) do not use the names. ``multiarm`` is the Cochrane Handbook (23.3.4) option
    for a study with several arms on one side: ``combine`` them (Table 6.5.a) or ``split`` the
    shared group across the pairwise comparisons.
    """

    id: Id
    intervention: str | list[str]
    control: str | list[str]
    label: str | None = None
    multiarm: Literal["combine", "split"] = "combine"

    @model_validator(mode="after")
    def _label(self) -> Comparison:
        i = _names(self.intervention, "intervention")
        c = _names(self.control, "control")
        both = sorted(set(i) & set(c))
        if both:
            raise ValueError(f"treatment(s) {', '.join(both)} named on both sides; expected "
                             "different treatments for intervention and control")
        if not self.label:
            self.label = f"{self.intervention_name} vs {self.control_name}"
        return self

    @property
    def intervention_treatments(self) -> list[str]:
        """The treatment names on the intervention side."""
        return _names(self.intervention, "intervention")

    @property
    def control_treatments(self) -> list[str]:
        """The treatment names on the control side."""
        return _names(self.control, "control")

    @property
    def intervention_name(self) -> str:
        """The intervention side for display (lumped treatments joined by ' + ')."""
        return " + ".join(self.intervention_treatments)

    @property
    def control_name(self) -> str:
        """The control side for display (lumped treatments joined by ' + ')."""
        return " + ".join(self.control_treatments)


class Outcome(_ZeroCells):
    """``[[outcomes]]``: what is measured, on which scale, how it is pooled."""

    id: Id
    label: str | None = None
    kind: Literal["continuous", "binary", "time_to_event", "rate"]
    instrument: str | None = None
    scale: tuple[float, float] | None = None
    direction: Literal["lower_is_better", "higher_is_better"]
    mid: float | None = Field(None, gt=0)
    measure: Literal["MD", "SMD", "SMD_CHANGE", "MD_CHANGE", "OR", "RR", "RD", "HR", "IRR",
                     "IRD"]
    assumed_control_risk: float | None = Field(None, gt=0, lt=1)
    # optional per-outcome overrides of [model]
    method: str | None = None
    test: str | None = None
    prediction_interval: bool | None = None
    pooling: str | None = None
    effects: Literal["random", "common"] | None = None
    # several effects per study (evsynth.review.dependence; docs/review-folder.md)
    dependence: Literal["one_per_study", "multilevel", "robust"] = "one_per_study"
    rho: float = Field(0.6, ge=0, lt=1)
    rho_sensitivity: list[Annotated[float, Field(ge=0, lt=1)]] = Field(
        default_factory=lambda: [0.3, 0.9])

    @model_validator(mode="after")
    def _checks(self) -> Outcome:
        if not self.label:
            self.label = self.id
        if self.dependence != "one_per_study" and (self.pooling or "IV") != "IV":
            raise ValueError(f"dependence {self.dependence!r} fits an inverse-variance "
                             f"multilevel model; pooling {self.pooling!r} needs one effect per "
                             "study: use pooling 'IV' or dependence 'one_per_study'")
        allowed = MEASURES_BY_KIND[self.kind]
        if self.measure not in allowed:
            raise ValueError(f"measure {self.measure!r} does not fit kind {self.kind!r}; "
                             f"expected one of {', '.join(allowed)}")
        if self.scale is not None and not self.scale[0] < self.scale[1]:
            raise ValueError(f"scale {list(self.scale)}: expected [min, max] with min < max")
        if self.assumed_control_risk is not None and self.kind != "binary":
            raise ValueError("assumed_control_risk applies to binary outcomes only")
        if self.method is not None and self.method.strip().upper().replace("-", "") in \
                POOLING_METHODS:
            # method = "MH" / "Peto" / "IV": the pooling method (RevMan's wording)
            if self.pooling is not None:
                raise ValueError(f"method {self.method!r} and pooling {self.pooling!r}: give "
                                 "the pooling method once")
            self.pooling, self.method = self.method, None
        if self.method is not None:
            self.method = normalise_method(self.method)
        self.test = normalise_test(self.test)
        self.pooling = normalise_pooling(self.pooling)
        if self.pooling is not None:
            ok = POOLING_MEASURES[self.pooling]
            if self.measure not in ok:
                raise ValueError(f"pooling {self.pooling!r} does not apply to measure "
                                 f"{self.measure!r}; expected one of {', '.join(ok)} (or "
                                 "pooling 'IV')")
            if self.pooling == "PETO" and self.effects == "random":
                raise ValueError("pooling 'Peto' is a common-effect method; expected effects "
                                 "'common' (or pooling 'MH'/'IV' for random effects)")
            if self.pooling != "IV" and self.method not in (None, "DL"):
                raise ValueError(f"method {self.method!r} (a tau^2 estimator) applies to "
                                 "pooling 'IV'; M-H random effects use DerSimonian-Laird from "
                                 "the Mantel-Haenszel Q (RevMan 5), Peto is a common effect: "
                                 "leave 'method' out (or use pooling 'IV')")
            if self.pooling != "IV" and self.test not in (None, "z"):
                raise ValueError(f"test {self.test!r} applies to pooling 'IV'; M-H and Peto use "
                                 "z tests and intervals (RevMan 5)")
        return self


class Window(_Strict):
    """``[[windows]]``: a follow-up time window in weeks, and how to pick one assessment."""

    id: Id
    label: str | None = None
    weeks: tuple[float, float]
    include_upper: bool = True
    target_weeks: float | None = None
    rule: Literal["closest", "latest"] = "closest"

    @model_validator(mode="after")
    def _checks(self) -> Window:
        lo, hi = self.weeks
        if not 0 <= lo < hi:
            raise ValueError(f"weeks {list(self.weeks)}: expected [from, to] with 0 <= from < to")
        if self.rule == "closest" and self.target_weeks is None:
            raise ValueError("rule 'closest' needs target_weeks")
        if self.target_weeks is not None and not lo <= self.target_weeks <= hi:
            raise ValueError(f"target_weeks {self.target_weeks} is outside weeks "
                             f"{list(self.weeks)}")
        if not self.label:
            self.label = f"{lo:g} to {hi:g} weeks"
        return self

    def contains(self, t: float) -> bool:
        """Whether an assessment at ``t`` weeks falls in the window."""
        lo, hi = self.weeks
        return lo <= t <= hi if self.include_upper else lo <= t < hi


class ChangeScores(_Strict):
    """``[change_scores]``: the baseline/follow-up correlation imputed for change-score SDs."""

    correlation: float = Field(0.5, ge=-1, le=1)
    sensitivity: list[Annotated[float, Field(ge=-1, le=1)]] = Field(default_factory=list)


class Judgement(_Strict):
    """One GRADE domain: downgrade by 0, 1 or 2 levels, with the reason."""

    downgrade: Literal[0, 1, 2] = 0
    reason: str = ""


class GradeEntry(_Strict):
    """``[[grade]]``: judgements for one comparison x outcome (x window, or all windows)."""

    comparison: Id
    outcome: Id
    window: Id | None = None
    start: Literal["high", "low"] = "high"  # randomised trials start high (GRADE)
    # a domain left out is not judged (None): the certainty is then "not assessed", with the
    # missing domains named (evsynth.summaries.grade.certainty); it was filled with
    # downgrade = 0, so an entry with no judgements gave High certainty (fuzz round 5)
    risk_of_bias: Judgement | None = None
    inconsistency: Judgement | None = None
    indirectness: Judgement | None = None
    imprecision: Judgement | None = None
    publication_bias: Judgement | None = None
    comment: str | None = None


class NetworkEntry(_Strict):
    """``[[network]]``: a network meta-analysis of one outcome in one time window
    (:mod:`evsynth.review.network`). ``time`` is a window id; ``treatments`` default to every
    treatment with arm-based data for the outcome; ``measure``, ``model`` and ``method_tau``
    default to the outcome's and ``[model]``'s; ``small_values`` follows the outcome's
    direction; ``mid`` is the range of equivalence of the CINeMA prompts (outcome units, or a
    ratio for OR/RR/HR/IRR; default the outcome's mid); ``cinema`` holds the reviewer's CINeMA
    judgements (checked by :func:`evsynth.summaries.cinema.reviewer_judgements`)."""

    id: Id
    label: str | None = None
    outcome: Id
    time: Id = Field(validation_alias=AliasChoices("time", "window"))
    treatments: list[Annotated[str, Field(min_length=1)]] | None = None
    measure: Literal["MD", "SMD", "SMD_CHANGE", "MD_CHANGE", "OR", "RR", "RD", "HR", "IRR",
                     "IRD"] | None = None
    reference: str | None = None
    model: Literal["random", "common"] | None = None
    method_tau: Literal["DL", "REML", "ML"] | None = None
    small_values: Literal["desirable", "undesirable"] | None = None
    mid: float | None = Field(None, gt=0)
    cinema: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("method_tau", mode="before")
    @classmethod
    def _tau(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("treatments")
    @classmethod
    def _treatments(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            _names(v, "treatments")
        return v


class Subgroup(_Strict):
    """``[[subgroups]]``: a pre-specified subgroup variable, a column of studies.csv."""

    id: Id
    column: str = Field(min_length=1)
    label: str | None = None


class SensitivityConfig(_Strict):
    """``[sensitivity]``: which sensitivity analyses to run."""

    change_score_correlations: bool = True
    exclude_high_risk_of_bias: bool = True
    common_effect: bool = True


def _searches(v: Any) -> Searches:
    """``[[search]]``/``[[searches]]``: validated by the records layer
    (:func:`evsynth.records.search.parse_strategies`: the keys, types, ISO dates and date order
    of :mod:`evsynth.records.settings`), so each key has one definition. Whether the export
    files exist is checked with the folder (:func:`evsynth.review.records_section.check_records`).
    """
    from evsynth.records.search import SearchStrategy, parse_strategies

    if isinstance(v, tuple) and all(isinstance(x, SearchStrategy) for x in v):
        return v

    from evsynth.errors import InputError

    try:
        return parse_strategies({"searches": v}, path=None, check_files=False)
    except InputError as exc:  # the key path (search or searches) is added by the loader
        raise ValueError(str(exc).replace("[[searches]] entry", "entry")) from None


def _screening(v: Any) -> Screening:
    """``[screening]``: validated by :func:`evsynth.records.settings.parse_screening`."""
    from evsynth.records.settings import ScreeningSettings, parse_screening

    if isinstance(v, ScreeningSettings):
        return v

    return parse_screening({"screening": v}, path=None)


def _default_screening() -> Screening:
    from evsynth.records.settings import ScreeningSettings

    return ScreeningSettings()


class ReviewConfig(_Strict):
    """The whole ``review.toml``: the analysis sections and the records layer's
    ``[[search]]`` (or ``[[searches]]``) and ``[screening]`` tables."""

    title: str = Field(min_length=1)
    question: str = ""
    model: ModelConfig = Field(default_factory=ModelConfig)
    comparisons: list[Comparison] = Field(min_length=1)
    outcomes: list[Outcome] = Field(min_length=1)
    windows: list[Window] = Field(min_length=1)
    change_scores: ChangeScores = Field(default_factory=ChangeScores)
    grade: list[GradeEntry] = Field(default_factory=list)
    subgroups: list[Subgroup] = Field(default_factory=list)
    #: ``[[network]]``: network meta-analyses (evsynth.review.network)
    network: list[NetworkEntry] = Field(default_factory=list)
    sensitivity: SensitivityConfig = Field(default_factory=SensitivityConfig)
    #: display names of the treatments of outcomes.csv (``[treatments]``: name = "label")
    treatments: dict[str, str] = Field(default_factory=dict)
    #: ``[[search]]`` / ``[[searches]]``: the searches as run (records layer)
    searches: Annotated[Searches, PlainValidator(_searches)] = Field(
        default=(), validation_alias=AliasChoices("searches", "search"))
    #: ``[screening]``: reviewers and exclusion reasons (records layer)
    screening: Annotated[Screening, PlainValidator(_screening)] = Field(
        default_factory=_default_screening)

    @model_validator(mode="before")
    @classmethod
    def _one_search_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict) and "search" in data and "searches" in data:
            raise ValueError("both [[search]] and [[searches]] are given; expected one "
                             "spelling for all search entries")
        return data

    def side_label(self, comp: Comparison, side: str) -> str:
        """A comparison side for display: the treatments' labels joined by ' + '."""
        names = comp.intervention_treatments if side == "intervention" \
            else comp.control_treatments
        return " + ".join(self.treatments.get(n, n) for n in names)


# ============================================================================== studies.csv
class StudyRow(BaseModel):
    """One row of ``studies.csv``. Only ``study_id`` is required; unknown facts stay empty.

    Columns not listed here are kept as text (e.g. for a subgroup variable).
    """

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    study_id: Annotated[str, BeforeValidator(_identifier_cell), Field(min_length=1)]
    label: OptStr = None
    year: OptInt = Field(None, ge=1900, le=2100)
    comparison: OptStr = None
    country: OptStr = None
    design: OptStr = None
    n_randomised: OptInt = Field(None, ge=1)
    n_intervention: OptInt = Field(None, ge=1)
    n_control: OptInt = Field(None, ge=1)
    mean_age: OptFloat = Field(None, gt=0, lt=130)
    age_range: OptStr = None
    percent_female: OptFloat = Field(None, ge=0, le=100)
    symptom_duration: OptStr = None
    funding: OptStr = None
    industry_funding: Annotated[Literal["yes", "no", "unclear"] | None,
                                BeforeValidator(_empty_to_none)] = None
    funder_role: OptStr = None
    rob_randomisation: OptStr = None
    rob_deviations: OptStr = None
    rob_missing: OptStr = None
    rob_measurement: OptStr = None
    rob_selection: OptStr = None
    rob_overall: OptStr = None
    source: OptStr = None
    note: OptStr = None

    @model_validator(mode="after")
    def _rob(self) -> StudyRow:
        """Risk-of-bias judgements in the canonical spelling of the study's tool (``rob_tool``:
        RoB 2 by default, or ROBINS-I), with the synonyms of :mod:`evsynth.reports.rob`, the
        one home of both tools' vocabularies."""
        from evsynth.errors import InputError
        from evsynth.reports.rob import normalise_judgement, tool_of

        extra = self.model_extra or {}
        raw_tool = extra.get("rob_tool")
        try:
            tool = tool_of(raw_tool if raw_tool else "rob2", "field 'rob_tool'")
            for name in ROB_FIELDS:
                value = getattr(self, name)
                if value is not None:
                    setattr(self, name, normalise_judgement(value, tool, f"field {name!r}"))
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="before")
    @classmethod
    def _extras(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: _empty_to_none(v) for k, v in data.items()}
        return data


# ============================================================================== outcomes.csv
class OutcomeRow(BaseModel):
    """One row of ``outcomes.csv`` (tidy: one arm, or one contrast, at one time point).

    Arm-based format: an arm row names its ``treatment`` (any number of arms per study); a
    contrast row names its two treatments, ``treatment`` (the "intervention" of ``direction``)
    and ``comparator`` (the "control"); ``comparison`` may be empty. Two-arm format (older
    files): ``comparison`` with ``arm = intervention`` or ``control`` (a contrast row: the
    comparison alone); ``treatment`` is then optional and only a label.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    study_id: Annotated[str, BeforeValidator(_identifier_cell), Field(min_length=1)]
    comparison: OptStr = None
    outcome: Annotated[str, BeforeValidator(_empty_to_none), Field(min_length=1)]
    timepoint_weeks: Annotated[float, BeforeValidator(_number_cell), Field(gt=0)]
    arm: Annotated[Literal["intervention", "control"] | None,
                   BeforeValidator(_empty_to_none)] = None
    treatment: OptStr = None
    comparator: OptStr = None
    value_type: Annotated[Literal["final", "change", "baseline_followup", "events", "rate",
                                  "contrast", "o_minus_e", "logrank"],
                          BeforeValidator(_empty_to_none)]
    n: OptInt = Field(None, ge=1)
    mean: OptFloat = None
    sd: OptFloat = Field(None, gt=0)
    baseline_mean: OptFloat = None
    baseline_sd: OptFloat = Field(None, gt=0)
    events: OptInt = Field(None, ge=0)
    total: OptInt = Field(None, ge=1)
    person_time: OptFloat = Field(None, gt=0)
    measure: Annotated[Literal["MD", "SMD", "OR", "RR", "RD", "HR", "IRR", "IRD"] | None,
                       BeforeValidator(_empty_to_none)] = None
    estimate: OptFloat = None
    ci_lb: OptFloat = None
    ci_ub: OptFloat = None
    ci_level: OptFloat = Field(None, gt=50, lt=100)
    se: OptFloat = Field(None, gt=0)
    o_minus_e: OptFloat = None
    variance: OptFloat = Field(None, gt=0)
    p_value: OptFloat = Field(None, gt=0, le=1)
    events_intervention: OptInt = Field(None, ge=0)
    events_control: OptInt = Field(None, ge=0)
    direction: OptStr = None
    n_intervention: OptInt = Field(None, ge=1)
    n_control: OptInt = Field(None, ge=1)
    #: the instrument of this measurement, when an outcome is measured with several (an outcome
    #: with dependence "multilevel"/"robust" takes one effect per instrument)
    instrument: OptStr = None
    source: OptStr = None
    note: OptStr = None

    @property
    def is_contrast(self) -> bool:
        """A between-group row (contrast, O - E and V, log-rank P)."""
        return self.value_type in CONTRAST_VALUE_TYPES

    @property
    def two_arm_format(self) -> bool:
        """A row of the older two-arm format (``arm`` or, for contrasts, no ``treatment``)."""
        return self.arm is not None or (self.is_contrast and self.treatment is None)

    @model_validator(mode="after")
    def _fields_for_value_type(self) -> OutcomeRow:
        vt = self.value_type
        self._format_checks()
        arm_fields = ("n", "mean", "sd", "baseline_mean", "baseline_sd", "events", "total",
                      "person_time")
        contrast_fields = ("measure", "estimate", "ci_lb", "ci_ub", "se", "direction",
                           "o_minus_e", "variance", "p_value", "events_intervention",
                           "events_control")
        need: tuple[str, ...]
        if self.is_contrast:
            need = {"contrast": ("measure", "estimate", "direction"),
                    "o_minus_e": ("o_minus_e", "variance", "direction"),
                    "logrank": ("p_value", "direction")}[vt]
            allowed = {"contrast": ("measure", "estimate", "ci_lb", "ci_ub", "se",
                                    "direction"),
                       "o_minus_e": ("measure", "o_minus_e", "variance", "direction"),
                       "logrank": ("measure", "p_value", "direction", "events_intervention",
                                   "events_control", "events")}[vt]
            for f in arm_fields + contrast_fields:
                if f not in allowed and getattr(self, f) is not None:
                    kind = "arm rows" if f in arm_fields else "other value types"
                    raise ValueError(f"field '{f}' is for {kind}, not for value_type {vt!r}")
        else:
            need = {"final": ("n", "mean", "sd"), "change": ("n", "mean", "sd"),
                    "baseline_followup": ("n", "mean", "sd", "baseline_mean", "baseline_sd"),
                    "events": ("events", "total"),
                    "rate": ("events", "person_time")}[vt]
            for f in contrast_fields:
                if getattr(self, f) is not None:
                    raise ValueError(f"field '{f}' is for contrast rows, not for value_type "
                                     f"{vt!r}")
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"value_type {vt!r} needs {', '.join(repr(m) for m in missing)}")
        events, total = self.events, self.total  # both given for events (checked above)
        if vt == "events" and events is not None and total is not None and events > total:
            raise ValueError(f"events ({self.events}) exceed total ({self.total})")
        if vt == "contrast":
            self._contrast_checks()
        elif vt in ("o_minus_e", "logrank"):
            self._time_to_event_checks()
        return self

    def _format_checks(self) -> None:
        if self.is_contrast:
            if self.arm is not None:
                raise ValueError(f"value_type {self.value_type!r} is a between-group estimate: "
                                 "leave 'arm' empty")
            if self.treatment is None:
                if self.comparator is not None:
                    raise ValueError("'comparator' needs 'treatment' (the two treatments "
                                     "compared)")
                if self.comparison is None:
                    raise ValueError("a contrast row needs 'treatment' and 'comparator' (the "
                                     "two treatments compared), or 'comparison' (two-arm "
                                     "format)")
            elif self.comparator is None:
                raise ValueError("a contrast row with 'treatment' needs 'comparator' (the "
                                 "treatment it is compared with)")
            elif self.treatment == self.comparator:
                raise ValueError(f"'treatment' and 'comparator' are both {self.treatment!r}; "
                                 "expected two different treatments")
            return
        if self.comparator is not None:
            raise ValueError("field 'comparator' is for contrast rows; an arm row names its "
                             "'treatment'")
        if self.arm is not None and self.comparison is None:
            raise ValueError("'arm' (intervention/control, two-arm format) needs "
                             "'comparison'; or leave 'arm' empty and name the 'treatment'")
        if self.arm is None and self.treatment is None:
            raise ValueError(f"value_type {self.value_type!r} needs 'treatment' (the arm's "
                             "treatment name), or 'arm' (intervention or control) with "
                             "'comparison' (two-arm format)")

    def _contrast_checks(self) -> None:
        ratio = self.measure in RATIO_MEASURES
        allowed = RATIO_DIRECTIONS if ratio else DIFFERENCE_DIRECTIONS
        if self.direction not in allowed:
            raise ValueError(f"direction {self.direction!r} for a {self.measure} contrast; "
                             f"expected one of {', '.join(allowed)}")
        has_ci = self.ci_lb is not None or self.ci_ub is not None
        if has_ci and (self.ci_lb is None or self.ci_ub is None):
            raise ValueError("give both 'ci_lb' and 'ci_ub' (or neither)")
        if self.se is None and not has_ci:
            raise ValueError("a contrast row needs 'se' or a confidence interval "
                             "('ci_lb', 'ci_ub')")
        lb, ub, est = self.ci_lb, self.ci_ub, self.estimate  # has_ci: lb and ub both given
        if lb is not None and ub is not None and not lb < ub:
            raise ValueError(f"ci_lb ({self.ci_lb}) must be below ci_ub ({self.ci_ub})")
        if lb is not None and ub is not None and est is not None and not lb <= est <= ub:
            raise ValueError(f"estimate {self.estimate} is outside its CI "
                             f"[{self.ci_lb}, {self.ci_ub}]")
        if ratio:
            for f in ("estimate", "ci_lb", "ci_ub"):
                v = getattr(self, f)
                if v is not None and v <= 0:
                    raise ValueError(f"field '{f}' is {v}: a {self.measure} must be > 0")
        if has_ci and self.ci_level is None:
            self.ci_level = 95.0

    def _time_to_event_checks(self) -> None:
        if self.measure not in (None, "HR"):
            raise ValueError(f"value_type {self.value_type!r} gives a hazard ratio; expected "
                             f"measure HR (or empty), got {self.measure!r}")
        self.measure = "HR"
        if self.value_type == "o_minus_e":
            if self.direction not in RATIO_DIRECTIONS:
                raise ValueError(f"direction {self.direction!r} for O - E and V; expected "
                                 "intervention_over_control (O - E of the intervention group) "
                                 "or control_over_intervention (O - E of the control group), "
                                 "or unknown")
            return
        if self.direction not in LOGRANK_DIRECTIONS:
            raise ValueError(f"direction {self.direction!r} for a log-rank P value; expected "
                             f"one of {', '.join(LOGRANK_DIRECTIONS)}")
        per_arm = (self.events_intervention, self.events_control)
        if (per_arm[0] is None) != (per_arm[1] is None):
            raise ValueError("give both 'events_intervention' and 'events_control' (or the "
                             "total 'events')")
        if per_arm[0] is None and self.events is None:
            raise ValueError("a log-rank P value needs the events: 'events_intervention' and "
                             "'events_control' (Parmar 1998), or the total 'events' with the "
                             "numbers randomised (Tierney 2007)")
        if per_arm[0] is not None and self.events is not None:
            raise ValueError("give 'events_intervention' and 'events_control' or the total "
                             "'events', not both")
        if per_arm[0] is not None and per_arm[1] is not None and (per_arm[0] <= 0
                                                                  or per_arm[1] <= 0):
            raise ValueError("a log-rank variance from events per group needs events in both "
                             "groups (> 0)")
        if self.events is not None and self.events <= 0:
            raise ValueError("'events' must be > 0 for a log-rank P value")


#: the columns of outcomes.csv, in the documented order
OUTCOME_COLUMNS = tuple(OutcomeRow.model_fields)
#: the documented columns of studies.csv (others are allowed)
STUDY_COLUMNS = tuple(StudyRow.model_fields)
