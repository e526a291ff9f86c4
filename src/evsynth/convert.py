"""Data conversions for extracted trial data (SDs, medians, change scores, combined groups).

``evsynth.convert`` is the public home; the formulas live in :mod:`evsynth.effects.conversions`.
All functions are vectorised (numbers or array-likes that broadcast together; a plain ``float``
when every argument is a scalar) and raise :class:`evsynth.InputError` naming the study and the
field for bad input.

Functions
---------
sd_change, correlation_from_change
    SD of change from baseline; the baseline/follow-up correlation implied by three SDs.
se_from_ci, se_from_p, wald_yi_vi
    Standard errors (and ``yi``/``vi``) from confidence intervals, z or P values.
sd_from_se, sd_from_ci, sd_from_ci_md, sd_from_t, sd_from_p
    Group or pooled SDs from a standard error, a CI of a mean or a mean difference, a t
    statistic or a P value.
combine_groups, combine_groups_many
    Merge subgroups (e.g. dose arms) into one group.
mean_sd_from_median
    Mean and SD from the median with the IQR and/or the range.

References
----------
.. [1] Higgins JPT, Thomas J, Chandler J, Cumpston M, Li T, Page MJ, Welch VA (eds.)
       (2019). *Cochrane Handbook for Systematic Reviews of Interventions*, 2nd edition
       (online version 6.4, 2023), chapter 6. Wiley. doi:10.1002/9781119536604
.. [2] Wan X, Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard
       deviation from the sample size, median, range and/or interquartile range. *BMC Med
       Res Methodol* 14:135. doi:10.1186/1471-2288-14-135
.. [3] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
       *J Stat Softw* 36(3):1-48. doi:10.18637/jss.v036.i03

Examples
--------
A trial reports SEs of the group means; the SDs feed :func:`evsynth.effect_size`:

>>> import evsynth
>>> from evsynth import convert
>>> sd1, sd2 = convert.sd_from_se([0.9, 1.1], [40, 38])
>>> round(float(sd1), 4), round(float(sd2), 4)
(5.6921, 6.7809)
>>> es = evsynth.effect_size("MD", m1i=[12.1], m2i=[14.0], sd1i=[sd1], sd2i=[sd2],
...                          n1i=[40], n2i=[38])
>>> round(float(es["yi"].iloc[0]), 2), round(float(es["sei"].iloc[0]), 4)
(-1.9, 1.4213)
"""

from evsynth.effects.conversions import *  # noqa: F401,F403
from evsynth.effects.conversions import __all__  # noqa: F401
