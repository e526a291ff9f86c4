# Reference values for the cases a differential fuzz against metafor found (session 11):
# meta_mh with a zero-variance study (tests/models/test_mh_zero_variance.py), the R^2 of an
# equal-effects meta-regression (tests/models/test_r2_equal_effects.py) and Kendall's test
# with ties (tests/models/test_ranktest_undefined.py).
#
# Run from the repository root:  Rscript tests/reference/fuzz_findings_fixtures.R
# Writes tests/reference/fuzz_findings/<group>.json; the Python tests never need R.

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("fuzz_findings")

mh <- list(
  list(id = "RD_double_zero", measure = "RD",
       data = list(ai = c(1, 0, 5), bi = c(49, 33, 42), ci = c(1, 0, 0), di = c(23, 33, 19))),
  list(id = "RD_none_and_all", measure = "RD",
       data = list(ai = c(1, 0, 5), bi = c(49, 10, 42), ci = c(1, 10, 0), di = c(23, 0, 19))),
  list(id = "RR_all_events", measure = "RR",
       data = list(ai = c(1, 5, 5), bi = c(49, 0, 42), ci = c(1, 7, 2), di = c(23, 0, 19))),
  list(id = "IRD_no_events", measure = "IRD",
       data = list(x1i = c(1, 0, 5), t1i = c(100, 50, 80), x2i = c(3, 0, 2),
                   t2i = c(90, 60, 70))))
cases <- lapply(mh, function(m) {
  fit <- do.call(rma.mh, c(m$data, list(measure = m$measure, add = 0, drop00 = FALSE)))
  list(id = m$id, measure = m$measure, data = m$data, beta = num(fit$beta), se = num(fit$se),
       QE = num(fit$QE), I2 = num(fit$I2))
})
write_group("mh_zero_variance", cases,
            "rma.mh(..., add = 0, drop00 = FALSE) with a study of sampling variance 0")

v <- c(0.1, 0.2, 0.3, 0.1, 0.5)
x <- 1:5
r2 <- list(
  list(id = "ordinary", yi = c(0.1, 0.25, 0.3, 0.45, 0.62)),
  list(id = "identical", yi = rep(0.1 + 0.2, 5)))
cases <- lapply(r2, function(d) {
  fit <- rma(d$yi, v, mods = x, method = "EE", control = CTRL)
  list(id = d$id, yi = d$yi, vi = v, mods = x, R2 = num(fit$R2))
})
write_group("r2_equal_effects", cases, "rma(yi, vi, mods = 1:5, method = 'EE')$R2")

kx <- c(1, 2, 2, 3, 4, 5, 5, 6)
ky <- c(2, 1, 3, 3, 5, 4, 6, 7)
ct <- suppressWarnings(cor.test(kx, ky, method = "kendall", exact = FALSE))
write_group("kendall_ties", list(list(id = "ties", x = kx, y = ky, tau = num(ct$estimate),
                                      pval = num(ct$p.value))),
            "cor.test(x, y, method = 'kendall', exact = FALSE)")
