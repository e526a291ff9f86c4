"""PET-PEESE conditional estimator (Stanley & Doucouliagos 2014, Res Synth Methods 5:60,
doi:10.1002/jrsm.1095; Stanley 2017, Soc Psychol Personal Sci 8:581, doi:10.1177/1948550617693062).

Registered for :class:`~evsynth.models.meta.MetaResult` without moderators (metafor has no
PET-PEESE function; the regressions are its ``regtest(model = "lm")``). For fits with user
weights, ``weighted=False`` or a fixed tau^2 the regressions are the same ``lm`` fits with weights
``1/vi``: metafor's ``regtest(model = "lm")`` ignores the fit's settings, and so does PET-PEESE
here (consistently with Stanley & Doucouliagos' inverse-variance WLS).
"""

from __future__ import annotations

from evsynth.errors import InputError
from evsynth.models.bias import PetPeeseResult
from evsynth.models.diagnostics import register
from evsynth.models.diagnostics._common import INT_ONLY
from evsynth.models.diagnostics.regtest import regtest_rma
from evsynth.models.meta import MetaResult


@register("pet_peese", MetaResult, **INT_ONLY)
def pet_peese_rma(fit: MetaResult, alpha: float = 0.05, sided: int = 1) -> PetPeeseResult:
    """PET-PEESE (Stanley & Doucouliagos 2014, Res Synth Methods 5:60; Stanley 2017).

    PET: ``lm(yi ~ sei, weights = 1/vi)``; PEESE: ``lm(yi ~ vi, weights = 1/vi)`` (the
    fixed-effects weighted regressions with multiplicative dispersion, = ``regtest(model=
    "lm")`` with predictor sei / vi). Conditional rule: when PET's intercept differs from 0
    (``sided=1``: one-sided in the direction of the PET estimate, p_two/2 < alpha, the
    original rule; ``sided=2``: p_two < alpha), use PEESE, else PET. The fit's user weights,
    ``weighted=False`` and a fixed tau^2 are not used (as ``regtest(model="lm")``).

    References
    ----------
    Stanley TD, Doucouliagos H (2014). Res Synth Methods 5:60-78, doi:10.1002/jrsm.1095.
    Stanley TD (2017). Soc Psychol Personal Sci 8:581-591, doi:10.1177/1948550617693062.
    metafor 3.8.1 ``regtest`` (``model = "lm"``).
    """
    if sided not in (1, 2):
        raise InputError(f"pet_peese: sided must be 1 or 2; got {sided!r}")
    if not 0 < float(alpha) < 1:
        raise InputError(f"pet_peese: alpha must be in (0, 1); got {alpha!r}")
    pet = regtest_rma(fit, model="lm", predictor="sei").fit
    peese = regtest_rma(fit, model="lm", predictor="vi").fit
    p_rule = float(pet.pval[0]) / (2 if sided == 1 else 1)
    chosen = "PEESE" if p_rule < alpha else "PET"
    return PetPeeseResult(pet, peese, chosen, float(alpha), sided, p_rule)
