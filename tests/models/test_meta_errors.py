"""Bad input to evsynth.meta / meta_batch: InputError (a ValueError) naming the study and field.

Every message must say where (row number or slab label), which field, and what was expected; no
traceback from inside numpy/scipy/formulaic, and no NaN result instead of an error.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import evsynth
from evsynth.errors import InputError

Y = np.array([0.1, -0.3, 0.5, 0.2, 0.05])
V = np.array([0.04, 0.09, 0.05, 0.02, 0.07])
LABELS = ["Adams 2001", "Brown 2003", "Chen 2010", "Diaz 2015", "Evans 2019"]


def _with(arr: np.ndarray, i: int, value: float) -> np.ndarray:
    out = arr.astype(float).copy()
    out[i] = value
    return out


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


# ------------------------------------------------------------------------------------------------
# sampling variances and effects
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -0.01, 0.0])
def test_bad_vi_names_row_and_field(bad):
    with pytest.raises(InputError) as exc:
        evsynth.meta(Y, _with(V, 2, bad))
    msg = str(exc.value)
    assert "row 3" in msg and "'vi'" in msg, msg


@pytest.mark.parametrize("bad", [np.nan, -0.5, 0.0])
def test_bad_vi_names_slab_label(bad):
    with pytest.raises(InputError) as exc:
        evsynth.meta(Y, _with(V, 1, bad), slab=LABELS)
    msg = str(exc.value)
    assert "Brown 2003" in msg and "vi" in msg, msg


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_bad_yi_names_row_and_field(bad):
    with pytest.raises(InputError) as exc:
        evsynth.meta(_with(Y, 4, bad), V)
    msg = str(exc.value)
    assert "row 5" in msg and "'yi'" in msg, msg


def test_bad_yi_in_data_frame_column_names_row():
    df = pd.DataFrame({"yi": _with(Y, 0, np.nan), "vi": V, "study": LABELS})
    with pytest.raises(InputError) as exc:
        evsynth.meta("yi", "vi", data=df, slab="study")
    msg = str(exc.value)
    assert "Adams 2001" in msg and "yi" in msg, msg


def test_non_numeric_yi():
    with pytest.raises(InputError) as exc:
        evsynth.meta(["0.1", "abc", "0.3"], [0.1, 0.1, 0.1])
    msg = str(exc.value)
    assert "row 2" in msg and "yi" in msg, msg


def test_negative_sei():
    with pytest.raises(InputError) as exc:
        evsynth.meta(Y, sei=_with(np.sqrt(V), 3, -0.2))
    msg = str(exc.value)
    assert "row 4" in msg and "sei" in msg, msg


def test_mismatched_lengths():
    with pytest.raises(InputError, match=r"5.*4|4.*5"):
        evsynth.meta(Y, V[:4])


def test_mismatched_slab_length():
    with pytest.raises(InputError, match="slab"):
        evsynth.meta(Y, V, slab=LABELS[:3])


def test_empty_input():
    with pytest.raises(InputError):
        evsynth.meta(np.array([]), np.array([]))


def test_missing_vi():
    with pytest.raises(InputError, match="vi"):
        evsynth.meta(Y)


def test_column_name_without_data():
    with pytest.raises(InputError, match="yi"):
        evsynth.meta("yi", "vi")


def test_column_missing_from_data():
    df = pd.DataFrame({"yi": Y, "vi": V})
    with pytest.raises(InputError, match="variance"):
        evsynth.meta("yi", "variance", data=df)


# ------------------------------------------------------------------------------------------------
# model specification
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["XYZ", "", "GENQX", "REMLL"])
def test_unknown_method(method):
    with pytest.raises(InputError, match="method"):
        evsynth.meta(Y, V, method=method)


@pytest.mark.parametrize("test", ["wald", "Z ", "hk sj", ""])
def test_unknown_test(test):
    with pytest.raises(InputError, match="test"):
        evsynth.meta(Y, V, test=test)


@pytest.mark.parametrize("level", [0, 100, 150, -5])
def test_bad_level(level):
    with pytest.raises(InputError, match="level"):
        evsynth.meta(Y, V, level=level)


def test_unknown_control_setting():
    with pytest.raises(InputError, match="control"):
        evsynth.meta(Y, V, control={"tolerance_typo": 1e-8})


@pytest.mark.parametrize("test", ["knha", "adhoc", "t"])
def test_t_based_tests_need_more_than_one_study(test):
    """metafor silently switches to test="z" for k = 1; evsynth refuses."""
    with pytest.raises(InputError, match="k"):
        evsynth.meta([0.3], [0.1], test=test)


@pytest.mark.parametrize("method", ["REML", "DL", "ML", "PM"])
def test_too_few_studies_for_meta_regression(method):
    # k = 2 studies, intercept + 1 moderator + tau^2: not estimable
    with pytest.raises(InputError, match="k = 2"):
        evsynth.meta([0.1, 0.4], [0.05, 0.06], mods=np.array([1.0, 2.0]), method=method)


def test_more_coefficients_than_studies_fe():
    # k < p: the model matrix cannot have full column rank either; either message is right
    with pytest.raises(InputError, match="k = 2|not of full rank"):
        evsynth.meta([0.1, 0.4], [0.05, 0.06], mods=np.array([[1.0, 3.0], [2.0, 5.0]]),
                     method="FE")


def test_knha_regression_without_residual_df():
    # FE with k = p: no df for the t distribution
    with pytest.raises(InputError, match="k"):
        evsynth.meta([0.1, 0.4], [0.05, 0.06], mods=np.array([1.0, 2.0]), method="FE",
                     test="knha")


def test_constant_moderator_is_rank_deficient():
    with pytest.raises(InputError, match="rank|collinear|constant"):
        evsynth.meta(Y, V, mods=np.ones(5))


def test_moderator_rows_must_match():
    with pytest.raises(InputError, match="mods"):
        evsynth.meta(Y, V, mods=np.arange(4.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_moderator_with_nan_array(bad):
    X = np.column_stack([np.arange(5.0), _with(np.arange(5.0) ** 2, 3, bad)])
    with pytest.raises(InputError) as exc:
        evsynth.meta(Y, V, mods=X, slab=LABELS)
    msg = str(exc.value)
    assert "Diaz 2015" in msg and "mod2" in msg, msg


def test_moderator_with_nan_dataframe_column_names_column():
    mods = pd.DataFrame({"dose": [1.0, 2.0, np.nan, 4.0, 5.0]})
    with pytest.raises(InputError) as exc:
        evsynth.meta(Y, V, mods=mods)
    msg = str(exc.value)
    assert "row 3" in msg and "dose" in msg, msg


def test_moderator_with_nan_in_formula_names_row_and_column():
    df = pd.DataFrame({"yi": Y, "vi": V, "dose": [1.0, 2.0, 3.0, np.nan, 5.0]})
    with pytest.raises(InputError) as exc:
        evsynth.meta("yi", "vi", data=df, mods="~ dose")
    msg = str(exc.value)
    assert "dose" in msg, msg
    assert re.search(r"row 4\b", msg), f"message does not name the study (row 4): {msg}"


def test_formula_column_missing():
    df = pd.DataFrame({"yi": Y, "vi": V, "dose": np.arange(5.0)})
    with pytest.raises(InputError) as exc:
        evsynth.meta("yi", "vi", data=df, mods="~ dose + latitude")
    assert "latitude" in str(exc.value)


def test_formula_without_data():
    with pytest.raises(InputError, match="data"):
        evsynth.meta(Y, V, mods="~ dose")


def test_no_intercept_no_moderators():
    with pytest.raises(InputError):
        evsynth.meta(Y, V, intercept=False)


# ------------------------------------------------------------------------------------------------
# methods on fitted models
# ------------------------------------------------------------------------------------------------
def test_bad_pi_type():
    fit = evsynth.meta(Y, V)
    with pytest.raises(InputError, match="pi_type"):
        fit.predict(pi_type="wide")


def test_newmods_wrong_width():
    fit = evsynth.meta(Y, V, mods=np.arange(5.0))
    with pytest.raises(InputError, match="newmods"):
        fit.predict(newmods=np.ones((2, 3)))


def test_confint_equal_effects():
    with pytest.raises(InputError, match="tau"):
        evsynth.meta(Y, V, method="FE").confint()


def test_anova_btt_out_of_range():
    fit = evsynth.meta(Y, V, mods=np.arange(5.0))
    with pytest.raises(InputError, match="btt"):
        fit.anova(btt=[5])


def test_anova_L_wrong_width():
    fit = evsynth.meta(Y, V, mods=np.arange(5.0))
    with pytest.raises(InputError, match="L"):
        fit.anova(L=np.ones((1, 3)))


def test_lrt_needs_ml_or_reml_with_same_method():
    a = evsynth.meta(Y, V, mods=np.arange(5.0), method="ML")
    b = evsynth.meta(Y, V, method="REML")
    with pytest.raises(InputError, match="ML|REML"):
        a.anova(b)
    c = evsynth.meta(Y, V, method="DL")
    d = evsynth.meta(Y, V, mods=np.arange(5.0), method="DL")
    with pytest.raises(InputError):
        c.anova(d)


def test_lrt_on_different_data():
    a = evsynth.meta(Y, V, mods=np.arange(5.0), method="ML")
    b = evsynth.meta(Y + 1, V, method="ML")
    with pytest.raises(InputError, match="data"):
        a.anova(b)


# ------------------------------------------------------------------------------------------------
# subgroups and batch
# ------------------------------------------------------------------------------------------------
def test_subgroup_missing_label_names_study():
    with pytest.raises(InputError) as exc:
        evsynth.meta(Y, V, subgroup=["a", "b", None, "a", "b"], slab=LABELS)
    msg = str(exc.value)
    assert "Chen 2010" in msg and "subgroup" in msg, msg


def test_subgroup_wrong_length():
    with pytest.raises(InputError, match="subgroup"):
        evsynth.meta(Y, V, subgroup=["a", "b"])


def test_subgroup_bad_tau2_option():
    with pytest.raises(InputError, match="subgroup_tau2"):
        evsynth.meta(Y, V, subgroup=["a"] * 5, subgroup_tau2="pooled")


def test_subgroup_knha_with_single_study_level():
    with pytest.raises(InputError, match="k = 1"):
        evsynth.meta(Y, V, subgroup=["a", "a", "a", "a", "b"], test="knha")


def test_batch_bad_vi_names_row_group_and_field():
    df = pd.DataFrame({"g": ["x", "x", "y", "y", "y"], "yi": Y, "vi": _with(V, 3, -1.0)})
    with pytest.raises(InputError) as exc:
        evsynth.meta_batch(df, by="g")
    msg = str(exc.value)
    assert "row 4" in msg and "vi" in msg and "y" in msg, msg


def test_batch_missing_columns():
    df = pd.DataFrame({"g": ["x"] * 5, "yi": Y, "vi": V})
    with pytest.raises(InputError, match="grp"):
        evsynth.meta_batch(df, by="grp")
    with pytest.raises(InputError, match="var"):
        evsynth.meta_batch(df, by="g", vi="var")


def test_batch_unknown_method_and_test():
    df = pd.DataFrame({"g": ["x"] * 5, "yi": Y, "vi": V})
    with pytest.raises(InputError, match="method"):
        evsynth.meta_batch(df, by="g", method="NOPE")
    with pytest.raises(InputError, match="test"):
        evsynth.meta_batch(df, by="g", test="NOPE")


@pytest.mark.parametrize("mods, message", [
    (["a", "b", "c", "d", "e"], r"moderator 'mod1' is not numeric.*C\(mod1\)"),
    (pd.DataFrame({"g": list("ababa")}), r"moderator 'g' is not numeric.*mods='~ C\(g\)'"),
    (np.zeros((5, 2, 2)), r"mods has shape \(5, 2, 2\)"),
    ([[1, 2], [3], [4, 5], [6, 7], [8, 9]], r"rows of different lengths"),
])
def test_non_numeric_moderators_are_named(mods, message):
    # a raw ValueError/TypeError from numpy before (session 13)
    with pytest.raises(InputError, match=message):
        evsynth.meta([0.1, 0.3, 0.5, 0.2, 0.4], [0.01, 0.02, 0.03, 0.04, 0.02], mods=mods)


def test_moderators_as_a_dict_of_columns():
    y, v, x = [0.1, 0.3, 0.5, 0.2, 0.4], [0.01, 0.02, 0.03, 0.04, 0.02], [1.0, 2, 3, 4, 5]
    fit = evsynth.meta(y, v, mods={"dose": x})
    assert fit.coef_names == ["intrcpt", "dose"]
    assert fit.beta.tolist() == evsynth.meta(y, v, mods=np.array(x)).beta.tolist()
