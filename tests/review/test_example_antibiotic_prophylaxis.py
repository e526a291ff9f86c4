"""The complete worked example examples/antibiotic_prophylaxis, run end to end.

Data: the 16 randomised trials of topical plus systemic antibiotic prophylaxis versus no
prophylaxis (outcome: respiratory tract infection) of D'Amico R, Pifferi S, Torri V, Brazzi L,
Parmelli E, Liberati A. Antibiotic prophylaxis to reduce respiratory tract infections and mortality
in adults receiving intensive care. Cochrane Database Syst Rev 2009;(4):CD000022,
https://doi.org/10.1002/14651858.CD000022.pub3, as distributed in R's metadat (dat.damico2009).

The folder's CSVs and the reference values are written by
tests/reference/example_antibiotic_prophylaxis_fixtures.R (metafor escalc, rma.mh, rma with the
RevMan M-H random tau^2, regtest, ranktest, trimfill; tight control). One `evsynth run` per module.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evsynth.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "antibiotic_prophylaxis"
REF_FILE = ROOT / "tests" / "reference" / "example_antibiotic_prophylaxis" / "analyses.json"
ANALYSIS = "tps_vs_none.rti.icu_stay"
TOL = 1e-6


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    return json.loads(REF_FILE.read_text())


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("antibiotic_prophylaxis") / "out"
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def results(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def analysis(results: dict[str, Any]) -> dict[str, Any]:
    (a,) = [a for a in results["analyses"] if a["id"] == ANALYSIS]
    return a


def _close(got: float | None, want: float, what: str, tol: float = TOL) -> None:
    assert got is not None, f"{what}: missing"
    assert abs(got - want) <= tol, f"{what}: evsynth {got!r}, metafor {want!r}"


def _rows(name: str) -> list[dict[str, str]]:
    with (EXAMPLE / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ the folder
def test_validate_passes(capsys) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "16 studies" in capsys.readouterr().out


def test_folder_documents_its_sources() -> None:
    readme = (EXAMPLE / "README.md").read_text()
    for needle in ("dat.damico2009", "10.1002/14651858.CD000022.pub3",
                   "example_antibiotic_prophylaxis_fixtures.R", "RoB 2"):
        assert needle in readme
    studies = _rows("studies.csv")
    assert len(studies) == 16 and len({s["study_id"] for s in studies}) == 16
    assert len(_rows("outcomes.csv")) == 32


def test_csvs_are_the_metadat_rows(ref) -> None:
    """outcomes.csv and studies.csv hold dat.damico2009 unchanged (as written by the R script)."""
    data = {r["study_id"]: r for r in ref["data"]}
    assert len(data) == 16
    arms = {(r["study_id"], r["treatment"]): r for r in _rows("outcomes.csv")}
    for sid, r in data.items():
        t, c = arms[(sid, "topical_systemic")], arms[(sid, "no_prophylaxis")]
        assert (int(t["events"]), int(t["total"])) == (r["xt"], r["nt"])
        assert (int(c["events"]), int(c["total"])) == (r["xc"], r["nc"])
        assert t["value_type"] == c["value_type"] == "events" and t["outcome"] == "rti"
    for s in _rows("studies.csv"):
        r = data[s["study_id"]]
        assert int(s["year"]) == r["year"]
        assert (int(s["n_intervention"]), int(s["n_control"])) == (r["nt"], r["nc"])
        assert s["allocation_concealment"] == ("adequate" if r["conceal"] else "not adequate")
        assert s["blinding"] == ("double-blind" if r["blind"] else "open")


def test_risk_of_bias_only_where_the_source_gives_it() -> None:
    """D1 from allocation concealment (adequate -> low, not adequate -> high); overall high
    only where D1 is high; domains 2 to 5 empty (not in the source)."""
    for s in _rows("studies.csv"):
        adequate = s["allocation_concealment"] == "adequate"
        assert s["allocation_concealment"] in ("adequate", "not adequate")
        assert s["rob_randomisation"] == ("low" if adequate else "high")
        assert s["rob_overall"] == ("" if adequate else "high")
        for col in ("rob_deviations", "rob_missing", "rob_measurement", "rob_selection"):
            assert s.get(col, "") == ""


# ------------------------------------------------------------------ the run
def test_run_writes_the_report(out: Path, results: dict[str, Any]) -> None:
    assert {"results.json", "report.html", "report.md"} <= {p.name for p in out.iterdir()}
    assert [a["id"] for a in results["analyses"]] == [ANALYSIS]
    assert not results.get("not_analysed")


def test_every_pooled_analysis_has_several_trials(results: dict[str, Any]) -> None:
    for a in results["analyses"]:
        assert a["k"] >= 2 and a["pooled"] is not None, a["id"]
        assert not a["excluded"]
        for sg in a["subgroup_analyses"]:
            assert all(lvl["k"] >= 2 for lvl in sg["levels"]), sg["id"]
        assert all(s["k"] >= 2 for s in a["sensitivity"])
    assert results["analyses"][0]["k"] == 16


def test_per_study_effects_and_weights_equal_metafor(analysis, ref) -> None:
    m = ref["main"]
    by_id = {s["study_id"]: s for s in analysis["studies"]}
    assert sorted(by_id) == sorted(m["study_id"])
    for j, sid in enumerate(m["study_id"]):
        s = by_id[sid]
        _close(s["yi"], m["yi"][j], f"{sid} yi")
        _close(s["vi"], m["vi"][j], f"{sid} vi")
        _close(s["weight"], m["random"]["weights"][j], f"{sid} weight (%)")


def test_pooled_mh_random_equals_metafor(analysis, ref) -> None:
    """M-H random effects (RevMan 5): rma.mh's QE, DL tau^2 from it, rma(tau2 = ...)."""
    p, r = analysis["pooled"], ref["main"]["random"]
    assert analysis["model"]["pooling"] == "MH" and analysis["model"]["effects"] == "random"
    for key in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2"):
        _close(p[key], r[key], f"pooled {key}")
    _close(p["QE"], r["Q"], "pooled Q")
    _close(p["I2"], r["I2"], "pooled I^2 (from the M-H Q)")
    _close(p["pi_lb"], r["pi_lb"], "prediction interval lb")
    _close(p["pi_ub"], r["pi_ub"], "prediction interval ub")
    _close(p["QEp"], r["Q_pval"], "pooled Q p")


def test_published_cochrane_result(analysis) -> None:
    """D'Amico et al. 2009 (CD000022.pub3), Abstract, Main results: topical plus systemic
    prophylaxis reduced RTIs, 16 studies, OR 0.28 (95% CI 0.20 to 0.38)."""
    p = analysis["pooled"]
    assert analysis["k"] == 16
    assert [round(math.exp(p[k]), 2) for k in ("estimate", "ci_lb", "ci_ub")] == [0.28, 0.20, 0.38]


def test_common_effect_sensitivity_equals_rma_mh(analysis, ref) -> None:
    (ce,) = [s for s in analysis["sensitivity"] if s["name"] == "common effect"]
    c = ref["main"]["common"]
    assert ce["k"] == 16
    for key in ("estimate", "ci_lb", "ci_ub"):
        _close(ce[key], c[key], f"M-H common {key}")


def test_excluding_high_risk_of_bias_equals_metafor(analysis, ref) -> None:
    (s,) = [s for s in analysis["sensitivity"] if s["name"] == "excluding high risk of bias"]
    r = ref["excluding_high_rob"]
    assert s["k"] == r["k"] == 9
    for key in ("estimate", "ci_lb", "ci_ub", "tau2"):
        _close(s[key], r["random"][key], f"excluding high RoB {key}")
    high = {x["study_id"] for x in analysis["studies"] if x["risk_of_bias"] == "high"}
    assert len(high) == 7 and high.isdisjoint(r["study_id"])


@pytest.mark.parametrize("variable", ["allocation_concealment", "blinding"])
def test_subgroups_equal_metafor(analysis, ref, variable) -> None:
    (sg,) = [s for s in analysis["subgroup_analyses"] if s["id"] == variable]
    want = ref["subgroups"][variable]
    assert {lvl["label"] for lvl in sg["levels"]} == set(want["levels"])
    for lvl in sg["levels"]:
        r = want["levels"][lvl["label"]]
        assert lvl["k"] == r["k"] and sorted(lvl["study_ids"]) == sorted(r["study_id"])
        for key in ("estimate", "ci_lb", "ci_ub", "tau2"):
            _close(lvl[key], r["random"][key], f"{variable}={lvl['label']} {key}")
        _close(lvl["QE"], r["random"]["Q"], f"{variable}={lvl['label']} Q")
    _close(sg["Q_between"], want["test"]["Q"], f"{variable} test for subgroup differences")
    assert sg["Q_between_df"] == want["test"]["df"]
    _close(sg["Q_between_p"], want["test"]["pval"], f"{variable} subgroup p")


def test_small_study_checks_equal_metafor(analysis, ref) -> None:
    """k = 16 >= 10: Egger (regtest model = "lm"), Begg (ranktest), trim-and-fill, on the
    inverse-variance DL fit of the same log ORs."""
    ss, r = analysis["small_study"], ref["iv_dl"]
    assert ss["assessed"] and ss["k"] == 16 >= ss["min_k"]
    eg = ss["egger"]
    _close(eg["statistic"], r["egger"]["tval"], "Egger t")
    assert eg["df"] == r["egger"]["df"]
    _close(eg["p"], r["egger"]["pval"], "Egger p")
    _close(eg["limit_estimate"], r["egger"]["limit"], "Egger limit estimate")
    _close(eg["limit_ci_lb"], r["egger"]["limit_ci_lb"], "Egger limit CI lb")
    _close(eg["limit_ci_ub"], r["egger"]["limit_ci_ub"], "Egger limit CI ub")
    _close(ss["begg"]["tau"], r["begg"]["tau"], "Begg tau")
    _close(ss["begg"]["p"], r["begg"]["pval"], "Begg p")
    tf = ss["trimfill"]
    assert tf["k0"] == r["trimfill"]["k0"] and tf["side"] == r["trimfill"]["side"]
    for key in ("estimate", "ci_lb", "ci_ub"):
        _close(tf[key], r["trimfill"][key], f"trim-and-fill {key}")


def test_absolute_effects_use_the_median_control_risk(analysis, ref) -> None:
    sof = analysis["sof"]
    risk = float(np.median(ref["main"]["control_risk"]))
    _close(sof["control"]["risk"], risk, "assumed control risk")
    p = analysis["pooled"]
    odds = risk / (1 - risk) * math.exp(p["estimate"])
    _close(sof["intervention"]["risk"], odds / (1 + odds), "intervention risk")
    assert sof["certainty"]["level"] == "low" and sof["k"] == 16


def test_report_shows_subgroups_rob_and_small_study_checks(out: Path, analysis) -> None:
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for text in (md, html):
        assert text.count("Test for subgroup differences") >= 2
        for sg in analysis["subgroup_analyses"]:
            assert f"{sg['Q_between']:.2f}" in text
            for lvl in sg["levels"]:
                assert lvl["label"] in text
    assert "excluding high risk of bias" in md
    assert "Egger's regression test" in md and "Trim-and-fill" in md
    assert (out / "figures" / f"{ANALYSIS}.funnel.svg").is_file()
    assert (out / "figures" / f"{ANALYSIS}.forest.svg").is_file()
