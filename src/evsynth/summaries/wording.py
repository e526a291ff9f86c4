"""Words for between-group results: numbers with digit grouping, differences between groups,
and GRADE's certainty-dependent statements.

A between-group result is a difference *between the groups* at follow-up, never a change over
time: "Pain was 0.7 points lower (0.3 to 1.2 lower) with vertebroplasty than with placebo", not
"pain improved by 0.7 points". Statements follow GRADE guidelines 26 (Santesso et al. 2020,
Table 2): high certainty "reduces" / "increases" / "results in little to no difference in",
moderate "probably ...", low "may ...", very low "we are very uncertain whether ...". Numbers
of 1,000 and more are written with a comma between thousands (Cochrane Style Manual, "Numbers").

References
----------
.. [1] Santesso N, Glenton C, Dahm P, et al. (2020). GRADE guidelines 26: informative
       statements to communicate the findings of systematic reviews of interventions. *J Clin
       Epidemiol* 119:126-135. doi:10.1016/j.jclinepi.2019.10.014
.. [2] Cochrane Style Manual, section "Numbers". https://community.cochrane.org/style-manual

Examples
--------
>>> from evsynth.summaries.wording import difference_words, certainty_statement
>>> difference_words(-0.7, -1.2, -0.3, 1, "points")
'0.7 points lower (0.3 to 1.2 lower)'
>>> certainty_statement("moderate", "Vertebroplasty", "placebo", "pain", "reduction")
'Vertebroplasty probably reduces pain compared with placebo.'
"""

from __future__ import annotations

import math

from evsynth.errors import InputError

__all__ = ["CERTAINTY_VERBS", "certainty_statement", "difference_words", "format_count",
           "format_ratio", "group_digits"]

#: GRADE 26 (Santesso 2020, Table 2) verbs by certainty and kind of effect
CERTAINTY_VERBS: dict[str, dict[str, str]] = {
    "high": {"reduction": "reduces", "increase": "increases",
             "none": "results in little to no difference in"},
    "moderate": {"reduction": "probably reduces", "increase": "probably increases",
                 "none": "probably results in little to no difference in"},
    "low": {"reduction": "may reduce", "increase": "may increase",
            "none": "may result in little to no difference in"},
}


def group_digits(x: float, decimals: int = 0) -> str:
    """``x`` rounded to ``decimals`` places, trailing zeros dropped, thousands separated by
    commas (``1234.5`` -> ``"1,234.5"``); never ``-0``.

    Parameters
    ----------
    x : float
    decimals : int

    Returns
    -------
    str

    Examples
    --------
    >>> group_digits(1234.5, 1), group_digits(12000), group_digits(-0.04, 1)
    ('1,234.5', '12,000', '0')
    """
    text = f"{x:,.{max(decimals, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_ratio(x: float) -> str:
    """A ratio (RR, OR, HR, ...) for display: two decimals (GRADEpro's 0.80, 1.07), or two
    significant digits below 0.1, where two decimals would print 0.00.

    Examples
    --------
    >>> format_ratio(0.8), format_ratio(1.234), format_ratio(0.004), format_ratio(0.0123)
    ('0.80', '1.23', '0.0040', '0.012')
    """
    if not math.isfinite(x) or x >= 0.1 or x <= 0:
        return f"{x:.2f}"
    return f"{x:.{1 - math.floor(math.log10(x))}f}"


def format_count(n: int | float | None, singular: str, plural: str | None = None) -> str:
    """A count with its noun: ``"1 study"``, ``"1,234 participants"``; None -> "not reported".

    Examples
    --------
    >>> format_count(1, "study"), format_count(1234, "participant")
    ('1 study', '1,234 participants')
    """
    if n is None:
        return f"{plural or singular + 's'} not reported"
    word = singular if n == 1 else (plural or singular + "s")
    return f"{group_digits(float(n), 0)} {word}"


def _unit(text: str, unit: str) -> str:
    if not unit:
        return ""
    if unit == "%":
        return "%"
    if unit == "points" and text == "1":
        return " point"
    return f" {unit}"


def difference_words(est: float, lb: float, ub: float, decimals: int, unit: str = "",
                     higher: str = "higher", lower: str = "lower") -> str:
    """A difference between groups in words: magnitude, unit and direction, with its interval.

    Same direction: ``"0.7 points lower (0.3 to 1.2 lower)"`` (smaller magnitude first);
    an interval through 0: ``"0.2 points higher (0.4 lower to 0.8 higher)"`` (lower bound
    first); a value rounding to 0 has no direction word (``"0 points"``).

    Parameters
    ----------
    est, lb, ub : float
        Difference (intervention minus control) and its confidence limits.
    decimals : int
        Decimal places.
    unit : str
        ``"points"``, ``"%"``, ``"standard deviations"``, ``"per 1,000"`` or "".
    higher, lower : str
        Words for positive and negative differences (``"more"``, ``"fewer"`` for counts).

    Returns
    -------
    str

    Examples
    --------
    >>> difference_words(46, -16, 92, 0, "per 1,000", "more", "fewer")
    '46 more per 1,000 (16 fewer to 92 more)'
    """
    lo, hi = sorted((lb, ub))

    def word(v: float) -> str:
        t = group_digits(abs(v), decimals)
        return t if t == "0" else f"{t} {higher if v > 0 else lower}"

    t = group_digits(abs(est), decimals)
    direction = "" if t == "0" else f" {higher if est > 0 else lower}"
    if unit.startswith("per "):     # "46 more per 1,000"
        head = f"{t}{direction} {unit}"
    else:                           # "0.7 points lower"
        head = f"{t}{_unit(t, unit)}{direction}"
    lo_t, hi_t = group_digits(abs(lo), decimals), group_digits(abs(hi), decimals)
    if lo > 0 and lo_t != "0":          # both higher
        ci = f"{lo_t} to {hi_t} {higher}"
    elif hi < 0 and hi_t != "0":        # both lower
        ci = f"{hi_t} to {lo_t} {lower}"
    else:
        ci = f"{word(lo)} to {word(hi)}"
    return f"{head} ({ci})"


def certainty_statement(level: str | None, intervention: str, control: str, outcome: str,
                        effect: str) -> str:
    """GRADE 26's statement of an effect for a certainty level.

    Parameters
    ----------
    level : str or None
        ``"high"``, ``"moderate"``, ``"low"``, ``"very low"``; anything else (not assessed)
        gives "".
    intervention, control, outcome : str
        Names as they should appear (the sentence starts with ``intervention``).
    effect : str
        ``"reduction"``, ``"increase"`` or ``"none"`` (little to no difference).

    Returns
    -------
    str

    References
    ----------
    .. [1] Santesso N et al. (2020). GRADE guidelines 26. *J Clin Epidemiol* 119:126-135.
           doi:10.1016/j.jclinepi.2019.10.014

    Examples
    --------
    >>> certainty_statement("very low", "vertebroplasty", "placebo", "pain", "none")
    'We are very uncertain whether vertebroplasty affects pain compared with placebo.'
    >>> certainty_statement("low", "Vertebroplasty", "usual care", "fractures", "none")
    'Vertebroplasty may result in little to no difference in fractures compared with usual care.'
    """
    if effect not in ("reduction", "increase", "none"):
        raise InputError(f"argument 'effect' is {effect!r}; expected 'reduction', 'increase' or "
                         "'none'")
    if level == "very low":
        verb = {"reduction": "reduces", "increase": "increases", "none": "affects"}[effect]
        return (f"We are very uncertain whether {intervention} {verb} {outcome} compared with "
                f"{control}.")
    if level not in CERTAINTY_VERBS:
        return ""
    subject = intervention[:1].upper() + intervention[1:]
    return f"{subject} {CERTAINTY_VERBS[level][effect]} {outcome} compared with {control}."
