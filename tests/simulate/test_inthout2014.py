"""docs/simulation-inthout2014.md is backed by this test: it reruns the documented study
(evsynth.simulate.published.inthout2014(), 10,000 replicates, seed 2014), checks that every
cell of the document's table is what the code gives, and checks the published results.

Published results (IntHout J, Ioannidis JPA, Borm GF. BMC Med Res Methodol 2014; 14:25,
doi:10.1186/1471-2288-14-25; Abstract, Results, page 1 of the article):

* "When the significance level was 5%, the HKSJ error rates at most doubled" (<= 10%),
* "whereas for DL they could be over 30%",
* "DL, and, far less so, HKSJ had more inflated error rates when the combined studies had
  unequal sizes and between-study heterogeneity".

The per-scenario numbers of the paper's figures and tables are not written here: we could not
retrieve them in a form we could state with confidence (see the document). The first statement
holds only approximately in our design: the worst HKSJ cell (k = 3, one large trial, I^2 = 50%)
is 10.3% with MCSE 0.07% at 200,000 replicates (fuzz round 5), slightly above 10%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evsynth.simulate import run
from evsynth.simulate.published import inthout2014, inthout2014_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulation-inthout2014.md"

#: the published numbers (abstract, p. 1): HKSJ at most double the 5% level; DL over 30%
PUBLISHED_HKSJ_MAX = 0.10
PUBLISHED_DL_OVER = 0.30
NOMINAL = 0.05


@pytest.fixture(scope="module")
def study():
    scenarios, methods = inthout2014()
    res = run(scenarios, methods, replicates=10_000, seed=2014, block=5000)
    return res.to_frame()


def _doc_table() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- inthout-table:start -->")
    end = text.index("<!-- inthout-table:end -->")
    rows = [line for line in text[start:end].splitlines() if line.startswith("| ")]
    return [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]


def test_document_table_is_what_the_code_gives(study) -> None:
    rows = _doc_table()
    ours = inthout2014_table(study)
    assert rows[0] == list(ours.columns)
    body = rows[1:]
    assert len(body) == len(ours) == 12
    for doc_row, (_, row) in zip(body, ours.iterrows(), strict=True):
        assert doc_row == [str(v) for v in row.tolist()]


#: the worst HKSJ cell rerun at high precision (docs/simulation-inthout2014.md)
WORST = "k=3 I2=0.5 one large"
HIGH_REPLICATES, HIGH_SEED = 200_000, 555


def test_published_hksj_error_rates_about_doubled(study) -> None:
    hk = study[study.method == "HKSJ"]
    # at 10,000 replicates every cell is within 3 Monte-Carlo SEs of the published bound,
    # and the largest rate is about double the 5% level
    assert (hk.rejection <= PUBLISHED_HKSJ_MAX + 3 * hk.rejection_mcse).all()
    assert hk.rejection.max() == pytest.approx(PUBLISHED_HKSJ_MAX, abs=0.01)
    assert hk.loc[hk.rejection.idxmax(), "label"] == WORST


def test_worst_hksj_cell_slightly_exceeds_10_percent_at_high_precision(study) -> None:
    # what is true with a small Monte-Carlo error: the worst cell is 10.3% (MCSE 0.07%), above
    # the published bound by about 4 MCSE, and consistent with its 10,000-replicate value
    scenarios, methods = inthout2014()
    sc = [s for s in scenarios if s.label == WORST]
    hi = run(sc, methods[1], replicates=HIGH_REPLICATES, seed=HIGH_SEED,
             block=5000).to_frame().iloc[0]
    assert (f"{100 * hi.rejection:.1f}", f"{100 * hi.rejection_mcse:.2f}") == ("10.3", "0.07")
    assert hi.rejection - PUBLISHED_HKSJ_MAX > 3 * hi.rejection_mcse
    lo = study[(study.method == "HKSJ") & (study.label == WORST)].iloc[0]
    assert abs(lo.rejection - hi.rejection) <= 3 * np.hypot(lo.rejection_mcse,
                                                            hi.rejection_mcse)


def test_published_dl_error_rates_over_30_percent(study) -> None:
    dl = study[study.method == "DL"]
    worst = dl.loc[dl.rejection.idxmax()]
    assert worst.rejection > PUBLISHED_DL_OVER
    assert worst.k == 2 and "one large" in worst.label


def test_published_dl_more_inflated_with_unequal_sizes_and_heterogeneity(study) -> None:
    f = study.assign(pattern=study.label.str.split(" ", n=2).str[2],
                     I2=study.label.str.extract(r"I2=([\d.]+)")[0].astype(float))
    het = f[f.I2 > 0]
    for method in ("DL", "HKSJ"):
        m = het[het.method == method].set_index(["k", "I2", "pattern"])
        eq = m.xs("equal", level="pattern")
        one = m.xs("one large", level="pattern")
        joined = eq.add_suffix("_eq").join(one.add_suffix("_one"), how="inner")
        if method == "DL":  # DL: more inflated with unequal sizes, in every k and I^2 > 0
            tol = 3 * np.hypot(joined.rejection_mcse_eq, joined.rejection_mcse_one)
            assert (joined.rejection_one > joined.rejection_eq - tol).all()
    # "far less so" HKSJ: its inflation above 5% is smaller than DL's in every unequal case
    un = het[het.label.str.contains("large")]
    dl = un[un.method == "DL"].set_index("label").rejection
    hk = un[un.method == "HKSJ"].set_index("label").rejection
    assert ((hk - NOMINAL) < (dl - NOMINAL)).mean() > 0.9
    assert (hk - NOMINAL).max() < 0.5 * (dl - NOMINAL).max()
    # with equal trials HKSJ stays near the nominal level
    eqhk = f[(f.method == "HKSJ") & (f.pattern == "equal")]
    assert (eqhk.rejection - NOMINAL).abs().max() < 0.01
