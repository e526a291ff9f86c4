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
