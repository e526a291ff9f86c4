# Reference values for the case diagnostics, BLUPs, VIFs, permutation CIs and selection models of
# issue 13 (tests/models/test_residuals.py, test_blup.py, test_vif.py, test_permutest.py,
# test_selmodel_families.py).
#
# Run from the repository root:  Rscript tests/reference/diag_extra_fixtures.R
# Requires R with metafor (>= 3.8), metadat, numDeriv and jsonlite. Writes the datasets it uses
# (tests/reference/diag_extra/data_<name>.csv) and one JSON file per group of cases
# (tests/reference/diag_extra/<group>.json). The Python tests read these files only.
#
# Every rma()/rma.mh()/rma.peto() fit uses control = list(threshold = 1e-12, tol = 1e-12,
# maxiter = 1000) where the function has it; selmodel() runs with metafor's defaults (BFGS via
# optim, integrate() with rel.tol = eps^0.25), which is what a user gets; its confint() uses the
# default uniroot tolerance (eps^0.25).

source(file.path("tests", "reference", "fixture_helpers.R"))
suppressMessages(library(metadat))
out_dir <- fixture_dir("diag_extra")
options(na.action = "na.omit")

# ---- datasets ----------------------------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg$study <- paste(bcg$author, bcg$year)
hack <- dat.hackshaw1998
bd <- dat.bangertdrowns2004
hahn <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.hahn2001,
               drop00 = TRUE)
hahn <- hahn[!is.na(hahn$yi), ]
datasets <- list(
  bcg = data.frame(study = bcg$study, yi = num(bcg$yi), vi = num(bcg$vi), ablat = bcg$ablat,
                   year = bcg$year, alloc = bcg$alloc, tpos = bcg$tpos, tneg = bcg$tneg,
                   cpos = bcg$cpos, cneg = bcg$cneg),
  hackshaw = data.frame(study = paste(hack$author, hack$year), yi = num(hack$yi),
                        vi = num(hack$vi)),
  bangertdrowns = data.frame(study = paste(bd$author, bd$year), yi = num(bd$yi),
                             vi = num(bd$vi), ni = bd$ni, grade = bd$grade, length = bd$length,
                             meta = bd$meta),
  hahn = data.frame(study = as.character(hahn$study), yi = num(hahn$yi), vi = num(hahn$vi)))
for (nm in names(datasets))
  write.csv(datasets[[nm]], file.path(out_dir, paste0("data_", nm, ".csv")), row.names = FALSE)

fit <- function(data, method, test = "z", mods = NULL, rows = NULL) {
  d <- datasets[[data]]
  if (!is.null(rows)) d <- d[rows, ]
  if (!"ni" %in% names(d)) d$ni <- rep(NA_real_, nrow(d))  # metafor's selmodel(prec=) reads x$ni
  if (is.null(mods)) rma(yi, vi, ni = ni, data = d, method = method, test = test, control = CTRL)
  else rma(yi, vi, ni = ni, mods = as.formula(paste("~", mods)), data = d, method = method,
           test = test, control = CTRL)
}
spec <- function(data, method, test, mods, rows = NULL)
  list(data = data, method = method, test = test, mods = mods, rows = rows)
lst <- function(r) list(resid = num(r$resid), se = num(r$se), z = num(r$z))
pi4 <- function(r) list(pred = num(r$pred), se = num(r$se), pi_lb = num(r$pi.lb),
                        pi_ub = num(r$pi.ub))

# ---- residuals, fitted values, BLUPs of rma.uni fits -----------------------------------------
uni_specs <- list(
  list("bcg", "REML", "z", NULL), list("bcg", "REML", "z", "ablat"),
  list("bcg", "DL", "knha", "ablat + year"), list("bcg", "EE", "z", "ablat"),
  list("bcg", "ML", "t", NULL), list("bcg", "PM", "z", "factor(alloc)"),
  list("hackshaw", "REML", "z", NULL), list("bangertdrowns", "REML", "z", "grade + meta"))
cases <- list()
for (s in uni_specs) {
  r <- fit(s[[1]], s[[2]], s[[3]], s[[4]])
  case <- c(spec(s[[1]], s[[2]], s[[3]], s[[4]]), list(
    rstandard = lst(rstandard(r)), rstandard_conditional = lst(rstandard(r, type = "conditional")),
    rstudent = lst(rstudent(r)), fitted = num(fitted(r)),
    residuals = list(response = num(residuals(r)), rstandard = num(residuals(r, "rstandard")),
                     rstudent = num(residuals(r, "rstudent")),
                     pearson = num(residuals(r, "pearson")),
                     cholesky = num(residuals(r, "cholesky"))),
    blup = pi4(blup(r)), ranef = pi4(ranef(r)), blup90 = pi4(blup(r, level = 90))))
  cases[[length(cases) + 1]] <- case
}
write_group("residuals_uni", cases)

# ---- user weights and unweighted fits: the hat matrix with W = diag(weights) or I -----------------
cases <- list()
d <- datasets$bcg
for (s in list(list("REML", "user", NULL), list("DL", "user", "ablat"), list("REML", "none", NULL),
               list("ML", "none", "ablat"))) {
  args <- list(yi = d$yi, vi = d$vi, method = s[[1]], control = CTRL)
  if (s[[2]] == "user") args$weights <- 1 / sqrt(d$vi) else args$weighted <- FALSE
  if (!is.null(s[[3]])) args$mods <- as.formula(paste("~", s[[3]]))
  args$data <- d
  r <- do.call(rma, args)
  cases[[length(cases) + 1]] <- list(data = "bcg", method = s[[1]], weights = s[[2]],
    mods = s[[3]], rstandard = lst(rstandard(r)), fitted = num(fitted(r)),
    residuals = list(response = num(residuals(r)), pearson = num(residuals(r, "pearson")),
                     cholesky = num(residuals(r, "cholesky"))))
}
write_group("residuals_weights", cases)

# ---- residuals of Mantel-Haenszel and Peto fits ------------------------------------------------
d <- datasets$bcg
mh_cases <- list()
for (m in list(list("rma.mh", "OR"), list("rma.mh", "RR"), list("rma.mh", "RD"),
               list("rma.peto", "PETO"))) {
  r <- if (m[[1]] == "rma.mh")
    rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = d, measure = m[[2]])
  else rma.peto(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = d)
  mh_cases[[length(mh_cases) + 1]] <- list(
    data = "bcg", fun = m[[1]], measure = m[[2]], rstandard = lst(rstandard(r)),
    rstudent = lst(rstudent(r)), fitted = num(fitted(r)),
    residuals = list(response = num(residuals(r)), rstandard = num(residuals(r, "rstandard")),
                     rstudent = num(residuals(r, "rstudent")),
                     pearson = num(residuals(r, "pearson"))))
}
write_group("residuals_mh", mh_cases)

# ---- variance inflation factors ----------------------------------------------------------------
vif_fields <- function(v) list(vif = num(v$vifs), sif = num(sapply(v$vif, function(x) x$sif)),
                               m = num(sapply(v$vif, function(x) x$m)),
                               coefs = unname(sapply(v$vif, function(x) x$coefs)))
vif_specs <- list(
  list("bcg", "REML", "ablat + year", NULL, FALSE, FALSE),
  list("bcg", "REML", "ablat + year + factor(alloc)", NULL, FALSE, FALSE),
  list("bcg", "REML", "ablat + year + factor(alloc)", list(2, 3, 4:5), FALSE, FALSE),
  list("bcg", "DL", "ablat + year + factor(alloc)", list(2:3, 4:5), FALSE, FALSE),
  list("bcg", "ML", "ablat + year", NULL, TRUE, FALSE),
  list("bcg", "REML", "ablat + year + factor(alloc)", list(2, 4:5), FALSE, TRUE),
  list("bangertdrowns", "REML", "grade + length + meta", NULL, FALSE, FALSE),
  list("bangertdrowns", "REML", "grade + length + meta", NULL, FALSE, TRUE))
cases <- list()
for (s in vif_specs) {
  dd <- datasets[[s[[1]]]]
  dd <- dd[complete.cases(dd[, c("yi", "vi")]), ]
  r <- rma(yi, vi, mods = as.formula(paste("~", s[[3]])), data = dd, method = s[[2]],
           control = CTRL)
  v <- if (is.null(s[[4]])) vif(r, intercept = s[[5]], reestimate = s[[6]])
       else vif(r, btt = s[[4]], intercept = s[[5]], reestimate = s[[6]])
  cases[[length(cases) + 1]] <- c(spec(s[[1]], s[[2]], "z", s[[3]]),
    list(btt = if (is.null(s[[4]])) NULL else lapply(s[[4]], as.list), intercept = s[[5]],
         reestimate = s[[6]], result = vif_fields(v)))
}
write_group("vif", cases)

# ---- exact permutation tests: stat = "coef" and permutation-based CIs --------------------------
perm_specs <- list(
  list("bcg", "REML", "z", NULL, 1:8, "test", TRUE),
  list("bcg", "DL", "z", NULL, 1:8, "coef", TRUE),
  list("bcg", "REML", "z", "ablat", 1:6, "test", 2),
  list("bcg", "DL", "knha", "ablat", 1:6, "coef", FALSE),
  list("bcg", "EE", "z", "ablat", 1:7, "coef", FALSE),
  list("hackshaw", "DL", "z", NULL, 1:9, "test", FALSE),
  list("bcg", "DL", "z", "ablat", 1:6, "test", TRUE))
cases <- list()
for (s in perm_specs) {
  r <- fit(s[[1]], s[[2]], s[[3]], s[[4]], s[[5]])
  pt <- permutest(r, exact = TRUE, progbar = FALSE, permci = s[[7]],
                  control = list(stat = s[[6]]))
  cases[[length(cases) + 1]] <- c(spec(s[[1]], s[[2]], s[[3]], s[[4]], s[[5]]),
    list(stat = s[[6]], permci = s[[7]],
         result = list(pval = num(pt$pval), QMp = num(pt$QMp), ci_lb = num(pt$ci.lb),
                       ci_ub = num(pt$ci.ub), n_perm = length(pt$QM.perm))))
}
write_group("permutest_ci", cases)

# ---- selection models ---------------------------------------------------------------------------
sel_fields <- function(s) {
  list(beta = num(s$beta), se = num(s$se), tau2 = num(s$tau2), se_tau2 = num(s$se.tau2),
       delta = num(s$delta), se_delta = num(s$se.delta), zval_delta = num(s$zval.delta),
       pval_delta = num(s$pval.delta), ci_lb_delta = num(s$ci.lb.delta),
       ci_ub_delta = num(s$ci.ub.delta), ll = num(s$ll), ll0 = num(s$ll0), LRT = num(s$LRT),
       LRTdf = num(s$LRTdf), LRTp = num(s$LRTp), LRT_tau2 = num(s$LRT.tau2),
       LRTp_tau2 = num(s$LRTp.tau2), QM = num(s$QM), vb = mat(s$vb), vd = mat(s$vd),
       ptable = if (is.data.frame(s$ptable)) num(s$ptable$k) else NULL)
}
ci_fields <- function(ci) {
  one <- function(x) list(rows = rownames(x$random), estimate = num(x$random[, 1]),
                          ci_lb = num(x$random[, 2]), ci_ub = num(x$random[, 3]))
  if (inherits(ci, "list.confint.rma")) lapply(ci[sapply(ci, is.list)], one) else list(one(ci))
}
sel_specs <- list(
  list("hackshaw", "ML", NULL, "halfnorm", "greater", NULL, NULL, TRUE, TRUE),
  list("hackshaw", "ML", NULL, "negexp", "greater", NULL, NULL, TRUE, TRUE),
  list("hackshaw", "ML", NULL, "logistic", "greater", NULL, NULL, TRUE, FALSE),
  list("hackshaw", "ML", NULL, "power", "greater", NULL, NULL, TRUE, TRUE),
  list("hackshaw", "ML", NULL, "negexppow", "greater", NULL, NULL, TRUE, FALSE),
  list("hackshaw", "ML", NULL, "beta", "greater", NULL, NULL, TRUE, FALSE),
  list("hackshaw", "ML", NULL, "stepfun", "greater", NULL, c(0.025, 0.10, 0.50, 1), TRUE, FALSE),
  list("hackshaw", "REML", NULL, "halfnorm", "greater", "sei", NULL, TRUE, FALSE),
  list("hackshaw", "ML", NULL, "negexp", "greater", "vi", NULL, TRUE, FALSE),
  list("hackshaw", "ML", NULL, "halfnorm", "greater", NULL, 0.05, TRUE, FALSE),
  list("bangertdrowns", "ML", NULL, "halfnorm", "greater", NULL, NULL, TRUE, TRUE),
  list("bangertdrowns", "ML", NULL, "negexp", "greater", "sqrtninv", NULL, TRUE, FALSE),
  list("bangertdrowns", "ML", NULL, "power", "greater", "ninv", NULL, TRUE, FALSE),
  list("bangertdrowns", "ML", "grade", "logistic", "greater", NULL, NULL, TRUE, FALSE),
  list("bangertdrowns", "ML", NULL, "stepfun", "greater", NULL, c(0.025, 0.5), TRUE, TRUE),
  list("hahn", "EE", NULL, "halfnorm", "less", NULL, NULL, TRUE, FALSE),
  list("hahn", "EE", NULL, "negexp", "less", NULL, NULL, TRUE, FALSE),
  list("hahn", "EE", NULL, "logistic", "less", NULL, NULL, TRUE, FALSE),
  list("hahn", "EE", NULL, "power", "less", NULL, NULL, TRUE, FALSE),
  list("hahn", "EE", NULL, "halfnorm", "less", "sei", NULL, FALSE, FALSE),
  list("hahn", "EE", NULL, "power", "less", "sei", NULL, FALSE, FALSE),
  list("hackshaw", "ML", NULL, "halfnorm", "two.sided", NULL, NULL, TRUE, FALSE),
  list("hackshaw", "ML", NULL, "negexp", "two.sided", "sei", 0.025, TRUE, FALSE),
  list("hackshaw", "ML", NULL, "beta", "two.sided", NULL, NULL, TRUE, FALSE))
cases <- list()
for (s in sel_specs) {
  r <- fit(s[[1]], s[[2]], "z", s[[3]])
  args <- list(r, type = s[[4]], alternative = s[[5]])
  if (!is.null(s[[6]])) { args$prec <- s[[6]]; args$scaleprec <- s[[8]] }
  if (!is.null(s[[7]])) args$steps <- s[[7]]
  out <- capture(do.call(selmodel, args))
  case <- list(data = s[[1]], method = s[[2]], mods = s[[3]], type = s[[4]],
               alternative = s[[5]], prec = s[[6]], steps = s[[7]], scaleprec = s[[8]],
               warnings = out$warnings, error = out$error)
  if (is.null(out$error)) {
    case$result <- sel_fields(out$value)
    if (s[[9]]) {
      ci <- capture(confint(out$value))
      case$confint <- if (is.null(ci$error)) ci_fields(ci$value) else NULL
      case$confint_warnings <- ci$warnings
    }
  }
  cases[[length(cases) + 1]] <- case
}
write_group("selmodel_families", cases)
