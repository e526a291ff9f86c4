"""Network meta-analysis (R's netmeta): :func:`~evsynth.models.network.fit.netmeta`,
:func:`~evsynth.models.network.pairwise.pairwise` and the inconsistency, ranking and
contribution methods of the fitted network."""
