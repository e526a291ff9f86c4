"""Worked example: the BCG vaccine trials (Colditz et al. 1994; metafor's dat.bcg).

Run:  python examples/worked_example.py
Every number printed here is tested against R's metafor in tests/.
"""

from pathlib import Path

import numpy as np
import pandas as pd

import evsynth

data = pd.read_csv(Path(__file__).with_name("bcg.csv"))

# 1. Effect sizes: log risk ratios from the 2x2 tables (metafor: escalc("RR", ...))
es = evsynth.effect_size("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=data,
                         slab="study")
data = pd.concat([data, es[["yi", "vi"]]], axis=1)
print(es.head(3), "\n")

# 2. Random-effects model (REML) with the Hartung-Knapp-Sidik-Jonkman test
fit = evsynth.meta("yi", "vi", data=data, method="REML", test="knha", slab="study")
fit.summary()
pred = fit.predict(transf=np.exp)
print(f"\nPooled RR {pred.pred:.2f} (95% CI {pred.ci_lb:.2f} to {pred.ci_ub:.2f}); "
      f"95% prediction interval {pred.pi_lb:.2f} to {pred.pi_ub:.2f}\n")
print(fit.confint(), "\n")

# 3. Meta-regression on absolute latitude and allocation method
reg = evsynth.meta("yi", "vi", data=data, mods="~ ablat + C(alloc)")
reg.summary()

# 4. Subgroups by allocation, with the test for subgroup differences
sub = evsynth.meta("yi", "vi", data=data, subgroup="alloc")
print(f"\nTest for subgroup differences: Chi2 = {sub.Q_between:.2f}, df = {sub.Q_between_df}, "
      f"p = {sub.Q_between_p:.3f}")

# 5. Mantel-Haenszel odds ratio
mh = evsynth.meta_mh("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=data)
print(f"MH OR {np.exp(mh.beta[0]) if np.ndim(mh.beta) else np.exp(mh.beta):.3f}; "
      f"Breslow-Day p = {mh.BDp:.4f}\n")

# 6. A batch of meta-analyses: one row per group
rng = np.random.default_rng(2026)
sim = pd.DataFrame({"g": np.repeat(np.arange(1000), 10), "vi": rng.uniform(0.01, 0.2, 10000)})
sim["yi"] = rng.normal(0.3, np.sqrt(sim["vi"] + 0.05))
print(evsynth.meta_batch(sim, by="g", method="REML").to_frame().head())
