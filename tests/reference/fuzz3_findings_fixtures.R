# Reference values for cases found in session 13 (a third round of differential fuzzing):
# rma.mv with struct = "UN" where two inner levels never occur in one cluster (metafor fixes
# their correlation to 0; tests/models/test_meta_mv_fuzz_findings.py).
#
# Run from the repository root:  Rscript tests/reference/fuzz3_findings_fixtures.R
# Writes tests/reference/fuzz_findings/<group>.json; the Python tests never need R.

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("fuzz_findings")
CTRL_MV <- list(optimizer = "BFGS", reltol = 1e-14, maxit = 10000)

# outcomes A, B, C: A occurs with B and with C, B never with C
never <- data.frame(
  study = c(1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 8, 9, 9),
  outcome = c("A", "B", "A", "B", "A", "C", "A", "C", "A", "B", "C", "B", "A", "C", "A", "B"),
  yi = c(0.61, 0.92, -0.22, 0.05, 0.88, 0.35, -0.36, -0.40, 0.05, 0.41, 0.52, 1.10, 0.95, 0.62,
         -0.29, -0.18),
  vi = c(0.021, 0.034, 0.018, 0.040, 0.025, 0.030, 0.022, 0.027, 0.031, 0.045, 0.026, 0.050,
         0.020, 0.024, 0.028, 0.036))
fits <- lapply(c("REML", "ML"), function(m) {
  f <- withCallingHandlers(
    rma.mv(yi, vi, mods = ~ outcome - 1, random = ~ outcome | study, struct = "UN",
           data = never, method = m, control = CTRL_MV),
    warning = function(w) {
      message("warning: ", conditionMessage(w)); invokeRestart("muffleWarning")
    })
  list(id = paste0("un_never_together_", m), method = m, data = as.list(never),
       beta = num(f$beta), se = num(f$se), tau2 = num(f$tau2), rho = num(f$rho),
       ll = num(logLik(f)), parms = num(f$parms), AIC = num(AIC(f)))
})
write_group("mv_un_never_together", fits,
            "rma.mv(yi, vi, mods = ~ outcome - 1, random = ~ outcome | study, struct = 'UN')")

# UN whose maximum has every correlation at +1, while a fit can stop at the rank-deficient G of
# another sign pattern (evsynth stopped at rho = (1, -1, -1), ll -3.1377)
signs <- data.frame(
  yi = c(1.5355, 0.9831, 0.485, 1.071, -0.5886, 0.7955, 1.1857, 1.1656),
  vi = c(0.246855, 0.031089, 0.289148, 0.109675, 0.061474, 0.053115, 0.109778, 0.074333),
  study = c("s00", "s00", "s00", "s01", "s02", "s04", "s04", "s04"),
  outcome = c("o0", "o1", "o2", "o2", "o1", "o0", "o1", "o2"),
  x1 = c(1.401, 0.375, -0.989, -0.812, -0.749, 0.152, 0.358, -0.789),
  x2 = c(1, 1, 0, 1, 1, 1, 1, 0))
fs <- rma.mv(yi, vi, mods = ~ x1 + x2, random = ~ outcome | study, struct = "UN",
             data = signs, method = "REML")
write_group("mv_un_sign_pattern", list(
  list(id = "un_rho_all_plus", data = as.list(signs), tau2 = num(fs$tau2), rho = num(fs$rho),
       beta = num(fs$beta), ll = num(logLik(fs)))),
  "rma.mv(yi, vi, mods = ~ x1 + x2, random = ~ outcome | study, struct = 'UN') (default control)")

# UN over districts within studies (each study in one district): every correlation is fixed to
# 0 (no two districts share a study), so the model is identifiable and metafor fits it;
# evsynth counted the 55 correlations as parameters and refused it as not identifiable
dk <- dat.konstantopoulos2011
fk <- suppressWarnings(rma.mv(yi, vi, random = ~ factor(district) | study, struct = "UN",
                              data = dk))
write_group("mv_un_all_never_together", list(
  list(id = "konstantopoulos2011_district_in_study", beta = num(fk$b), se = num(fk$se),
       tau2 = num(fk$tau2), ll = num(logLik(fk)), parms = num(fk$parms))),
  "rma.mv(yi, vi, random = ~ factor(district) | study, struct = 'UN', data = dat.konstantopoulos2011)")
