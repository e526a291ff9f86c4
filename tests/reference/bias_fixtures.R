# Reference values for the small-study-effect methods (tests/models/test_bias.py).
#
# Run from the repository root:  Rscript tests/reference/bias_fixtures.R
# Requires R with metafor (>= 3.8), metadat and jsonlite. Writes
#   tests/reference/data/bias_<dataset>.csv   (yi/vi, sample sizes and 2x2 counts used)
#   tests/reference/bias/<method>.json        (a list of cases per file)
# The Python tests read these files only; they never need R.
#
# metafor has no Harbord test and its Peters test is a variant (weights 1/vi): both are computed
# here from the published formulas with lm() (Harbord, Egger & Sterne 2006, Stat Med 25:3443;
# Peters et al. 2006, JAMA 295:676).

source(file.path("tests", "reference", "fixture_helpers.R"))

out_dir <- fixture_dir("bias")


# ------------------------------------------------------------------------------------------------
# datasets (metadat)
# ------------------------------------------------------------------------------------------------
counts <- function(d, ai, bi, ci, di, measure, study) {
  e <- escalc(measure = measure, ai = ai, bi = bi, ci = ci, di = di)
  data.frame(study = study, yi = as.numeric(e$yi), vi = as.numeric(e$vi), ai = ai, bi = bi,
             ci = ci, di = di, ni = ai + bi + ci + di)
}
datasets <- list()
hs <- dat.hackshaw1998
datasets$hackshaw <- data.frame(study = paste(hs$author, hs$year), yi = hs$yi, vi = hs$vi)
eg <- dat.egger2001
datasets$magnesium <- counts(eg, eg$ai, eg$n1i - eg$ai, eg$ci, eg$n2i - eg$ci, "OR",
                             paste(eg$study, eg$year))
bc <- dat.bcg
datasets$bcg <- counts(bc, bc$tpos, bc$tneg, bc$cpos, bc$cneg, "RR", paste(bc$author, bc$year))
datasets$bcg$ablat <- bc$ablat
le <- dat.lee2004
datasets$lee <- counts(le, le$ai, le$n1i - le$ai, le$ci, le$n2i - le$ci, "OR",
                       paste(le$study, le$year))
hi <- dat.hine1989
datasets$hine <- counts(hi, hi$ai, hi$n1i - hi$ai, hi$ci, hi$n2i - hi$ci, "RD", hi$study)
ra <- dat.raudenbush1985
datasets$raudenbush <- data.frame(study = paste(ra$author, ra$year), yi = ra$yi, vi = ra$vi)

for (nm in names(datasets)) {
  write.csv(datasets[[nm]], file.path(data_dir, paste0("bias_", nm, ".csv")), row.names = FALSE)
}

fit <- function(d, method = "REML", test = "z", mods = NULL) {
  if (is.null(mods)) {
    rma(d$yi, d$vi, method = method, test = test, control = CTRL)
  } else {
    rma(d$yi, d$vi, mods = mods, method = method, test = test, control = CTRL)
  }
}

# ------------------------------------------------------------------------------------------------
# regtest
# ------------------------------------------------------------------------------------------------
cases <- list()
fits <- list(list(method = "REML", test = "z"), list(method = "DL", test = "knha"),
             list(method = "FE", test = "z"))
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  preds <- c("sei", "vi")
  if (!is.null(d$ni)) preds <- c(preds, "ni", "ninv", "sqrtninv")
  for (f in fits) {
    res <- fit(d, f$method, f$test)
    for (model in c("rma", "lm")) {
      for (pr in preds) {
        r <- if (is.null(d$ni)) capture(regtest(res, model = model, predictor = pr))
             else capture(regtest(res, model = model, predictor = pr, ni = d$ni))
        v <- r$value
        cases[[length(cases) + 1]] <- list(
          dataset = nm, fit_method = f$method, fit_test = f$test, model = model, predictor = pr,
          error = r$error, zval = num(v$zval), pval = num(v$pval), dfs = num(v$dfs),
          est = num(v$est), ci_lb = num(v$ci.lb), ci_ub = num(v$ci.ub),
          fit_beta = num(coef(v$fit)), fit_tau2 = if (model == "rma") num(v$fit$tau2) else NULL)
      }
    }
  }
}
# meta-regression (bcg ~ ablat): metafor adds the predictor to the moderators; no limit estimate
d <- datasets$bcg
res <- fit(d, "REML", "z", mods = d$ablat)
for (model in c("rma", "lm")) {
  v <- regtest(res, model = model, predictor = "sei")
  cases[[length(cases) + 1]] <- list(
    dataset = "bcg", fit_method = "REML", fit_test = "z", mods = "ablat", model = model,
    predictor = "sei", error = NULL, zval = num(v$zval), pval = num(v$pval), dfs = num(v$dfs),
    est = NULL, ci_lb = NULL, ci_ub = NULL, fit_beta = num(coef(v$fit)),
    fit_tau2 = if (model == "rma") num(v$fit$tau2) else NULL)
}
write_group("regtest", cases)

# Peters (2006) and Harbord (2006) from the published formulas (binary datasets, log OR)
cases <- list()
for (nm in c("magnesium", "lee", "bcg", "hine")) {
  d <- datasets[[nm]]
  lor <- escalc(measure = "OR", ai = d$ai, bi = d$bi, ci = d$ci, di = d$di)
  # Peters: lnOR on 1/N, weights S*F/N-type: 1 / (1/(events) + 1/(non-events))
  ev <- as.numeric(d$ai + d$ci)
  ne <- as.numeric(d$bi + d$di)
  pw <- 1 / (1 / ev + 1 / ne)
  pf <- summary(lm(as.numeric(lor$yi) ~ I(1 / d$ni), weights = pw))
  # Harbord: Z/sqrt(V) on sqrt(V), unweighted; test of the intercept
  n1 <- as.numeric(d$ai + d$bi)
  n2 <- as.numeric(d$ci + d$di)
  N <- as.numeric(d$ni)
  Z <- d$ai - n1 * ev / N
  V <- n1 * n2 * ev * ne / (N^2 * (N - 1))
  hf <- summary(lm(I(Z / sqrt(V)) ~ sqrt(V)))
  cases[[length(cases) + 1]] <- list(
    dataset = nm, lor_yi = num(lor$yi), lor_vi = num(lor$vi),
    peters = list(zval = pf$coefficients[2, 3], pval = pf$coefficients[2, 4],
                  dfs = pf$df[2], est = pf$coefficients[1, 1], se = pf$coefficients[1, 2],
                  beta = num(pf$coefficients[, 1])),
    harbord = list(zval = hf$coefficients[1, 3], pval = hf$coefficients[1, 4], dfs = hf$df[2],
                   intercept = hf$coefficients[1, 1], slope = hf$coefficients[2, 1],
                   Z = num(Z), V = num(V)))
}
write_group("peters_harbord", cases,
            note = "lnOR (escalc OR, 0.5 added to zero cells); formulas of Peters 2006 / Harbord 2006")

# ------------------------------------------------------------------------------------------------
# ranktest
# ------------------------------------------------------------------------------------------------
cases <- list()
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  res <- fit(d)
  for (exact in list(NULL, FALSE)) {
    r <- if (is.null(exact)) capture(ranktest(res)) else capture(ranktest(res, exact = exact))
    cases[[length(cases) + 1]] <- list(dataset = nm, exact = if (is.null(exact)) "default" else exact,
                                       tau = num(r$value$tau), pval = num(r$value$pval),
                                       warnings = r$warnings)
  }
}
write_group("ranktest", cases)

# ------------------------------------------------------------------------------------------------
# trimfill
# ------------------------------------------------------------------------------------------------
cases <- list()
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  for (method in c("REML", "FE", "DL")) {
    res <- fit(d, method)
    for (est in c("L0", "R0", "Q0")) {
      for (side in list(NULL, "left", "right")) {
        r <- if (is.null(side)) capture(trimfill(res, estimator = est, control = CTRL))
             else capture(trimfill(res, estimator = est, side = side, control = CTRL))
        v <- r$value
        cases[[length(cases) + 1]] <- list(
          dataset = nm, method = method, estimator = est,
          side_arg = if (is.null(side)) "auto" else side, error = r$error,
          k0 = num(v$k0), side = v$side, se_k0 = num(v$se.k0), p_k0 = num(v$p.k0),
          fill = v$fill, yi = num(v$yi), vi = num(v$vi), beta = num(v$beta), se = num(v$se),
          zval = num(v$zval), pval = num(v$pval), ci_lb = num(v$ci.lb), ci_ub = num(v$ci.ub),
          tau2 = num(v$tau2), k = num(v$k))
      }
    }
  }
}
write_group("trimfill", cases)

# ------------------------------------------------------------------------------------------------
# fsn
# ------------------------------------------------------------------------------------------------
cases <- list()
fsn_case <- function(nm, type, target = NULL, alpha = 0.05, weighted = FALSE, test = NULL) {
  d <- datasets[[nm]]
  args <- list(yi = d$yi, vi = d$vi, type = type, alpha = alpha, weighted = weighted)
  if (!is.null(target)) args$target <- target
  if (!is.null(test)) args$test <- test
  v <- do.call(fsn, args)
  list(dataset = nm, type = type, target_arg = target, alpha = alpha, weighted = weighted,
       test = if (is.null(test)) "Stouffer" else test, fsnum = num(v$fsnum),
       alpha_out = num(v$alpha), pval = num(v$pval), meanes = num(v$meanes),
       target = num(v$target))
}
for (nm in names(datasets)) {
  for (alpha in c(0.05, 0.01)) {
    cases[[length(cases) + 1]] <- fsn_case(nm, "Rosenthal", alpha = alpha)
    cases[[length(cases) + 1]] <- fsn_case(nm, "Rosenthal", alpha = alpha, test = "Fisher")
    cases[[length(cases) + 1]] <- fsn_case(nm, "Rosenberg", alpha = alpha)
  }
  cases[[length(cases) + 1]] <- fsn_case(nm, "Orwin")
  cases[[length(cases) + 1]] <- fsn_case(nm, "Orwin", weighted = TRUE)
}
cases[[length(cases) + 1]] <- fsn_case("bcg", "Orwin", target = log(0.95))
cases[[length(cases) + 1]] <- fsn_case("raudenbush", "Orwin", target = 0.05)
cases[[length(cases) + 1]] <- fsn_case("raudenbush", "Orwin", target = -0.05, weighted = TRUE)
write_group("fsn", cases)

# ------------------------------------------------------------------------------------------------
# hc (Henmi & Copas 2010); uniroot run tight (integrate keeps its default rel.tol)
# ------------------------------------------------------------------------------------------------
cases <- list()
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  res <- fit(d, "REML")
  r <- capture(hc(res, control = list(tol = 1e-12)))
  v <- r$value
  cases[[length(cases) + 1]] <- list(
    dataset = nm, error = r$error, beta = num(v$beta), se = num(v$se), ci_lb = num(v$ci.lb),
    ci_ub = num(v$ci.ub), tau2 = num(v$tau2), beta_rma = num(v$beta.rma),
    ci_lb_rma = num(v$ci.lb.rma), ci_ub_rma = num(v$ci.ub.rma))
}
write_group("hc", cases)

# ------------------------------------------------------------------------------------------------
# selmodel (Vevea & Hedges 1995 step function; Citkowicz & Vevea 2017 beta). metafor refits the
# model by ML; optimiser BFGS with reltol 1e-15 and finite-difference steps 1e-5, and the integrals (beta type) at rel.tol 1e-10.
# ------------------------------------------------------------------------------------------------
sctrl <- function(npar) {
  list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000,
       ndeps = rep(1e-5, npar), intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L))
}
cases <- list()
sel_case <- function(nm, method, type, steps = NULL, alternative = "greater") {
  d <- datasets[[nm]]
  res <- fit(d, method)
  npar <- 1 + 1 + (if (is.null(steps)) 2 else length(steps))
  r <- if (is.null(steps)) capture(selmodel(res, type = type, alternative = alternative,
                                            control = sctrl(npar)))
       else capture(selmodel(res, type = type, steps = steps, alternative = alternative,
                             control = sctrl(npar)))
  v <- r$value
  list(dataset = nm, method = method, type = type, steps_arg = steps, alternative = alternative,
       error = r$error, warnings = r$warnings, beta = num(v$beta), se = num(v$se),
       zval = num(v$zval), pval = num(v$pval), ci_lb = num(v$ci.lb), ci_ub = num(v$ci.ub),
       tau2 = num(v$tau2), se_tau2 = num(v$se.tau2), delta = num(v$delta),
       se_delta = num(v$se.delta), pval_delta = num(v$pval.delta), LRT = num(v$LRT),
       LRTdf = num(v$LRTdf), LRTp = num(v$LRTp), ll = num(v$ll),
       ptable = if (is.data.frame(v$ptable)) num(v$ptable$k) else NULL)
}
for (nm in c("hackshaw", "magnesium", "lee", "raudenbush", "bcg")) {
  cases[[length(cases) + 1]] <- sel_case(nm, "REML", "stepfun", c(0.025, 1))
  cases[[length(cases) + 1]] <- sel_case(nm, "REML", "beta")
}
cases[[length(cases) + 1]] <- sel_case("hackshaw", "FE", "stepfun", c(0.025, 1))
cases[[length(cases) + 1]] <- sel_case("hackshaw", "ML", "stepfun", c(0.025, 0.5, 1))
cases[[length(cases) + 1]] <- sel_case("magnesium", "REML", "stepfun", c(0.025, 1),
                                       alternative = "less")
cases[[length(cases) + 1]] <- sel_case("raudenbush", "REML", "stepfun", c(0.05, 0.10, 0.50, 1))
cases[[length(cases) + 1]] <- sel_case("hackshaw", "REML", "stepfun", c(0.05, 1),
                                       alternative = "two.sided")
cases[[length(cases) + 1]] <- sel_case("hine", "REML", "stepfun", c(0.025, 1))
write_group("selmodel", cases)
