# Reference values for the Gleser & Olkin (2009) worked examples
# (tests/models/test_meta_mv_gleser2009.py).
#
# Gleser LJ, Olkin I (2009). Stochastically dependent effect sizes. In Cooper H, Hedges LV,
# Valentine JC (eds), The Handbook of Research Synthesis and Meta-Analysis, 2nd ed., 357-376.
# New York: Russell Sage Foundation. The data are typed from the chapter as metafor recreates them
# (metafor-project.org, analyses:gleser2009; metafor's tests/testthat/test_analysis_example_
# gleser2009.r): multiple-treatment studies with a dichotomous response (Table 19.2, p. 360) and
# with a quantitative response (p. 364), multiple-endpoint studies (p. 369).
#
# Run from the repository root:  Rscript tests/reference/mv_gleser2009_fixtures.R
# Writes tests/reference/mv/gleser2009.json: per example the data, yi, vi, the chapter's V
# (its covariance formulas), rma.mv with that V (no random effects: the chapter's fixed-effects
# GLS model; method = "FE" is what rma.mv does without random effects), metafor's vcalc()
# approximation of V and the fit with it, and for the multiple-endpoint studies a REML model
# with an unstructured between-school covariance (~ outcome | school, struct = "UN").

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("mv")
MVCTRL <- list(rel.tol = 1e-12, eval.max = 10000, iter.max = 10000)

fitlist <- function(res) {
  list(beta = num(res$beta), vb = mat(res$vb), se = num(res$se), zval = num(res$zval),
       pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), QE = res$QE,
       QEp = res$QEp, QM = res$QM, QMp = res$QMp, ll = as.numeric(logLik(res)),
       sigma2 = num(res$sigma2), tau2 = num(res$tau2), rho = num(res$rho))
}

# V from a per-study function of the study's rows (the chapter's formulas)
blockV <- function(dat, f) as.matrix(bldiag(lapply(split(dat, dat$study), f)))

cases <- list()

# ---- multiple-treatment studies, dichotomous response (chapter pp. 359-365) --------------------
# group 1 (ai/n1i) is the shared control group, group 2 (ci/n2i) the treatment group
mt <- data.frame(study = c(1, 1, 2, 3, 3, 3), trt = c(1, 2, 1, 1, 2, 3),
                 ai = c(40, 40, 10, 150, 150, 150), n1i = c(1000, 1000, 200, 2000, 2000, 2000),
                 ci = c(100, 150, 15, 40, 80, 50), n2i = c(4000, 4000, 400, 1000, 1000, 1000))
mt$pc <- mt$ai / mt$n1i
# covariance of two contrasts against the same control: the variance of the control's estimate
shared_cov <- list(
  RD = function(x) x$pc[1] * (1 - x$pc[1]) / x$n1i[1],
  OR = function(x) 1 / (x$n1i[1] * x$pc[1] * (1 - x$pc[1])),
  RR = function(x) (1 - x$pc[1]) / (x$n1i[1] * x$pc[1]),
  AS = function(x) 1 / (4 * x$n1i[1]))
for (m in names(shared_cov)) {
  d <- escalc(measure = m, ai = ai, ci = ci, n1i = n1i, n2i = n2i, data = mt)
  f <- shared_cov[[m]]
  V <- blockV(d, function(x) { v <- matrix(f(x), nrow(x), nrow(x)); diag(v) <- x$vi; v })
  res <- rma.mv(yi, V, mods = ~ 0 + factor(trt), data = d, method = "FE", control = MVCTRL)
  Vc <- as.matrix(vcalc(vi, cluster = study, grp1 = rep(0, nrow(d)), grp2 = trt, w1 = n1i,
                        w2 = n2i, data = d))
  resc <- rma.mv(yi, Vc, mods = ~ 0 + factor(trt), data = d, method = "FE", control = MVCTRL)
  cases[[paste0("treat_", m)]] <- list(
    measure = m, data = d[, c("study", "trt", "ai", "n1i", "ci", "n2i")], yi = num(d$yi),
    vi = num(d$vi), V = mat(V), fit = fitlist(res), V_vcalc = mat(Vc), fit_vcalc = fitlist(resc))
}

# ---- multiple-treatment studies, quantitative response (chapter pp. 364-367) -------------------
# m1i: treatment means, m2i: the shared control's mean, sdpi: pooled SD (as in the chapter)
sm <- data.frame(study = c(1, 1, 2, 3, 4, 4), trt = c(1, 2, 1, 1, 1, 2),
                 m1i = c(7.87, 4.35, 9.32, 8.08, 7.44, 5.34),
                 m2i = c(-1.36, -1.36, 0.98, 1.17, 0.45, 0.45),
                 sdpi = c(4.2593, 4.2593, 2.8831, 3.1764, 2.9344, 2.9344),
                 n1i = c(25, 22, 38, 50, 30, 30), n2i = c(25, 25, 40, 50, 30, 30))
# Ni: all subjects of the study (treatment groups plus the shared control)
sm$Ni <- ave(sm$n1i, sm$study, FUN = sum) + sm$n2i
sm$yi <- with(sm, (m1i - m2i) / sdpi)
sm$vi <- with(sm, 1 / n1i + 1 / n2i + yi^2 / (2 * Ni))
V <- blockV(sm, function(x) {
  v <- 1 / x$n2i[1] + outer(x$yi, x$yi) / (2 * x$Ni[1]); diag(v) <- x$vi; v })
res <- rma.mv(yi, V, mods = ~ 0 + factor(trt), data = sm, method = "FE", control = MVCTRL)
Vc <- as.matrix(vcalc(vi, cluster = study, grp1 = trt, grp2 = rep(0, nrow(sm)), w1 = n1i,
                      w2 = n2i, data = sm))
resc <- rma.mv(yi, Vc, mods = ~ 0 + factor(trt), data = sm, method = "FE", control = MVCTRL)
cases[["treat_SMD"]] <- list(
  measure = "SMD", data = sm[, c("study", "trt", "m1i", "m2i", "sdpi", "n1i", "n2i", "Ni")],
  yi = num(sm$yi), vi = num(sm$vi), V = mat(V), fit = fitlist(res), V_vcalc = mat(Vc),
  fit_vcalc = fitlist(resc))

# ---- multiple-endpoint studies (chapter pp. 368-371) ------------------------------------------
# two outcomes (math, reading) per school; ri: their correlation; m1i, m2i the two groups' means
# as typed on metafor's page (the effect is (m2i - m1i) / sdpi)
me <- data.frame(study = rep(1:7, each = 2), outcome = rep(c("math", "reading"), times = 7),
                 m1i = c(2.3, 2.5, 2.4, 1.3, 2.5, 2.4, 3.3, 1.7, 1.1, 2.0, 2.8, 2.1, 1.7, 0.6),
                 m2i = c(10.3, 6.6, 9.7, 3.1, 8.7, 3.7, 7.5, 8.5, 2.2, 2.1, 3.8, 1.4, 1.8, 3.9),
                 sdpi = c(8.2, 7.3, 8.3, 8.9, 8.5, 8.3, 7.7, 9.8, 9.1, 10.4, 9.6, 7.9, 9.2, 10.2),
                 ri = rep(c(.55, .43, .57, .66, .51, .59, .49), each = 2),
                 n1i = rep(c(22, 21, 26, 18, 38, 42, 39), each = 2),
                 n2i = rep(c(24, 21, 23, 18, 36, 42, 38), each = 2))
# the chapter rounds d to 3 and the (co)variances to 4 decimals
me$yi <- round(with(me, (m2i - m1i) / sdpi), 3)
me$vi <- round(with(me, 1 / n1i + 1 / n2i + yi^2 / (2 * (n1i + n2i))), 4)
prod_d <- ave(me$yi, me$study, FUN = prod)
me$covi <- round(with(me, (1 / n1i + 1 / n2i) * ri + prod_d / (2 * (n1i + n2i)) * ri^2), 4)
V <- blockV(me, function(x) matrix(c(x$vi[1], x$covi[1], x$covi[1], x$vi[2]), 2))
res <- rma.mv(yi, V, mods = ~ 0 + outcome, data = me, method = "FE", control = MVCTRL)
Vc <- as.matrix(vcalc(vi, cluster = study, obs = outcome, rho = 0.5, data = me))
resc <- rma.mv(yi, Vc, mods = ~ 0 + outcome, data = me, method = "FE", control = MVCTRL)
# nlminb at rel.tol 1e-12 reports false convergence here: fall back to optim BFGS, tight
resr <- tryCatch(
  rma.mv(yi, V, mods = ~ 0 + outcome, random = ~ outcome | study, struct = "UN", data = me,
         method = "REML", control = MVCTRL),
  error = function(e) rma.mv(yi, V, mods = ~ 0 + outcome, random = ~ outcome | study,
                             struct = "UN", data = me, method = "REML",
                             control = list(optimizer = "optim", optmethod = "BFGS",
                                            reltol = 1e-14, maxit = 10000)))
cases[["endpoint_SMD"]] <- list(
  measure = "SMD", data = me[, c("study", "outcome", "m1i", "m2i", "sdpi", "ri", "n1i", "n2i")],
  yi = num(me$yi), vi = num(me$vi), covi = num(me$covi), V = mat(V), fit = fitlist(res),
  V_vcalc = mat(Vc), vcalc_rho = 0.5, fit_vcalc = fitlist(resc), fit_reml_un = fitlist(resr))

write_group("gleser2009", cases,
            note = "Gleser & Olkin (2009) worked examples; rma.mv FE with the chapter's V")
