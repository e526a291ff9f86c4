# Reference values for the Kalaian & Raudenbush (1996) SAT-coaching example
# (tests/models/test_meta_mv_kalaian1996.py).
#
# Kalaian HA, Raudenbush SW (1996). A multivariate mixed linear model for meta-analysis.
# Psychological Methods 1(3):227-235. doi:10.1037/1082-989X.1.3.227
# Data: metadat's dat.kalaian1996 (Table 1 of the paper); the analysis is the one documented in
# metadat's man/dat.kalaian1996.Rd: V from vcalc() with a within-study correlation of 0.66
# between the verbal and math effects, a bivariate random-effects model (~ outcome | study,
# struct = "UN", REML), and the meta-regression on mean-centred log(hours of coaching).
#
# Run from the repository root:  Rscript tests/reference/mv_kalaian1996_fixtures.R
# Writes tests/reference/mv/kalaian1996.json.

source(file.path("tests", "reference", "fixture_helpers.R"))
library(metadat)
out_dir <- fixture_dir("mv")
MVCTRL <- list(rel.tol = 1e-12, eval.max = 10000, iter.max = 10000)
# nlminb at rel.tol 1e-12 may stop with "did not achieve convergence" at its maximum; then
# Nelder-Mead (optim) at reltol 1e-12 from there (the fit records which optimiser was used)
OPTCTRL <- list(optimizer = "optim", reltol = 1e-12, maxit = 100000)
fit_mv <- function(Vm, mods, d, m, tau2 = NULL) {
  fit <- function(ctrl) rma.mv(yi, Vm, mods = mods, random = ~ outcome | study, struct = "UN",
                               tau2 = tau2, data = d, method = m, control = ctrl)
  res <- try(fit(MVCTRL), silent = TRUE)
  if (inherits(res, "try-error")) {
    res <- fit(OPTCTRL)
    res$optimizer_used <- "optim"
  } else {
    res$optimizer_used <- "nlminb"
  }
  res
}

fitlist <- function(res) {
  list(beta = num(res$beta), vb = mat(res$vb), se = num(res$se), zval = num(res$zval),
       pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), QE = res$QE,
       QEp = res$QEp, QM = res$QM, QMp = res$QMp, ll = as.numeric(logLik(res)),
       tau2 = num(res$tau2), rho = num(res$rho), k = res$k, optimizer = res$optimizer_used)
}

dat <- dat.kalaian1996
V <- vcalc(vi, cluster = study, type = outcome, data = dat, rho = 0.66)
dat$loghrs <- log(dat$hrs) - mean(log(dat$hrs), na.rm = TRUE)

cases <- list()
for (m in c("REML", "ML")) {
  res <- fit_mv(V, ~ 0 + outcome, dat, m)
  an <- anova(res, X = c(1, -1))
  cases[[paste0("outcome_", m)]] <- c(fitlist(res), list(
    contrast_est = num(an$Xb), contrast_se = num(an$se), contrast_QM = an$QM))
  has <- !is.na(dat$hrs)
  res2 <- fit_mv(V[has, has], ~ 0 + outcome + outcome:loghrs, dat[has, ], m)
  cases[[paste0("loghrs_", m)]] <- fitlist(res2)
  res3 <- fit_mv(V[has, has], ~ 0 + outcome + outcome:loghrs, dat[has, ], m, tau2 = c(NA, 0))
  cases[[paste0("loghrs_tau2verbal0_", m)]] <- fitlist(res3)
}
cases$data <- list(study = dat$study, outcome = dat$outcome, yi = num(dat$yi),
                   vi = num(dat$vi), hrs = num(dat$hrs), V = mat(V))
write_group("kalaian1996", cases,
            note = "metadat dat.kalaian1996; V = vcalc(rho = 0.66); rma.mv UN, REML and ML")
