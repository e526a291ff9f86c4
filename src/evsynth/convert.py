"""Data conversions for extracted trial data (SDs, medians, change scores, combined groups).

``evsynth.convert`` is the public home; the formulas live in :mod:`evsynth.effects.conversions`.
"""

from evsynth.effects.conversions import *  # noqa: F401,F403
from evsynth.effects.conversions import __all__  # noqa: F401
