# Reference values for evsynth.meta_glmm (tests/models/test_glmm*.py): metafor::rma.glmm.
#
# Run from the repository root:  Rscript tests/reference/glmm_fixtures.R
# Requires R with metafor (>= 3.8), metadat, lme4, BiasedUrn, numDeriv and jsonlite. Writes
#   tests/reference/data/glmm_<dataset>.csv   (the data used)
#   tests/reference/glmm/<group>.json          (fitted models)
# Each model is fitted twice where the optimiser matters: with metafor's defaults ("default")
# and with tight optimiser settings ("tight": glmer's bobyqa with small trust-region radius,
# nlminb with rel.tol 1e-12, integrate() with rel.tol 1e-10) so that the reference is the
# optimum of the same likelihood approximation rather than where a default optimiser stopped.
source(file.path("tests", "reference", "fixture_helpers.R"))
suppressMessages({library(lme4); library(BiasedUrn); library(metadat)})
out_dir <- fixture_dir("glmm")

TIGHT_GLMER <- list(glmerCtrl = list(optimizer = "bobyqa",
                                     optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
# (nlminb with rel.tol <= 1e-12 stops with convergence code 1 on CM.EL: optim's BFGS instead)
TIGHT_CMEL <- list(optimizer = "optim", optmethod = "BFGS",
                   optCtrl = list(reltol = 1e-12, maxit = 1e4),
                   intCtrl = list(rel.tol = 1e-10),
                   glmerCtrl = list(optimizer = "bobyqa",
                                    optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))

fitout <- function(r) {
  fs <- r$fit.stats
  list(beta = num(r$beta), se = num(r$se), zval = num(r$zval), pval = num(r$pval),
       ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), vb = mat(r$vb),
       tau2 = num(r$tau2), se_tau2 = num(r$se.tau2), sigma2 = num(r$sigma2), rho = num(r$rho),
       I2 = num(r$I2), H2 = num(r$H2), vt = num(r$vt),
       QE_Wld = num(r$QE.Wld), QEp_Wld = num(r$QEp.Wld), QE_LRT = num(r$QE.LRT),
       QEp_LRT = num(r$QEp.LRT), QE_df = num(r$QE.df), QM = num(r$QM), QMp = num(r$QMp),
       QMdf = num(r$QMdf), k = r$k, p = r$p, parms = r$parms, k_eff = r$k.eff,
       ll = fs["ll", "ML"], dev = fs["dev", "ML"], AIC = fs["AIC", "ML"], BIC = fs["BIC", "ML"],
       AICc = fs["AICc", "ML"], coef_names = rownames(r$beta),
       printed = paste(capture.output(print(r)), collapse = "\n"), time = r$time)
}

run <- function(name, args, data_name, ctrl = NULL) {
  a <- args
  if (!is.null(ctrl)) a$control <- ctrl
  res <- capture(do.call(rma.glmm, a))
  out <- list(name = name, data = data_name,
              args = args[setdiff(names(args), c("data", "mods"))],
              mods = if (is.null(args$mods)) NULL else deparse(args$mods),
              tight = !is.null(ctrl), warnings = res$warnings, error = res$error)
  if (!is.null(res$value)) out$fit <- fitout(res$value)
  out
}

# ---- data --------------------------------------------------------------------------------
niel7 <- dat.nielweise2007
write.csv(niel7[, c("study", "author", "year", "ai", "n1i", "ci", "n2i")],
          file.path(data_dir, "glmm_nielweise2007.csv"), row.names = FALSE)
niel8 <- dat.nielweise2008
write.csv(niel8[, c("study", "authors", "year", "x1i", "t1i", "x2i", "t2i")],
          file.path(data_dir, "glmm_nielweise2008.csv"), row.names = FALSE)
bcg <- dat.bcg
write.csv(bcg[, c("trial", "author", "year", "tpos", "tneg", "cpos", "cneg", "ablat")],
          file.path(data_dir, "glmm_bcg.csv"), row.names = FALSE)
pritz <- dat.pritz1997
write.csv(pritz[, c("study", "authors", "xi", "ni")],
          file.path(data_dir, "glmm_pritz1997.csv"), row.names = FALSE)

cases <- list()
add <- function(x) cases[[length(cases) + 1]] <<- x
orn <- function(model, method = "ML", ...) list(measure = "OR", ai = niel7$ai, n1i = niel7$n1i,
                                               ci = niel7$ci, n2i = niel7$n2i, model = model,
                                               method = method, ...)
orb <- function(model, method = "ML", ...) list(measure = "OR", ai = bcg$tpos, bi = bcg$tneg,
                                               ci = bcg$cpos, di = bcg$cneg, model = model,
                                               method = method, ...)

# ---- UM.RS with correlated random effects (cor = TRUE) --------------------------------------
# rma.glmm(model = "UM.RS", cor = TRUE): glmer(y ~ 0 + X.fit + const + (group | study)) by the
# Laplace approximation (nAGQ forced to 1), with tight glmer settings; rho is metafor's
# VarCorr[1, 2] / sqrt(tau2 * sigma2). glmer's default PIRLS tolerance (tolPwrss = 1e-7) leaves
# its Laplace value up to ~1e-4 off (lme4's devFunOnly at fixed parameters moves by 7e-5 on the
# Niel-Weise 2008 data between 1e-7 and 1e-11), which moves the optimum by ~1e-3: the reference
# uses tolPwrss = 1e-11.
# Run alone:  Rscript tests/reference/glmm_fixtures.R glmm_umrs_cor
TIGHT_COR <- modifyList(TIGHT_CMEL, list(glmerCtrl = list(optimizer = "bobyqa", tolPwrss = 1e-11,
                                                          optCtrl = list(rhoend = 1e-10,
                                                                         maxfun = 1e5))))
irr_cor <- list(measure = "IRR", x1i = niel8$x1i, t1i = niel8$t1i, x2i = niel8$x2i,
                t2i = niel8$t2i, model = "UM.RS", method = "ML", cor = TRUE)
cor_cases <- list(
  run("bcg UM.RS cor ML tight", orb("UM.RS", cor = TRUE), "bcg", TIGHT_COR),
  run("bcg UM.RS cor ML ablat tight", orb("UM.RS", cor = TRUE, mods = bcg$ablat), "bcg",
      TIGHT_COR),
  run("niel7 UM.RS cor ML tight", orn("UM.RS", cor = TRUE), "nielweise2007", TIGHT_COR),
  run("niel8 UM.RS cor ML tight", irr_cor, "nielweise2008", TIGHT_COR),
  run("bcg UM.RS cor EE tight", orb("UM.RS", "EE", cor = TRUE), "bcg", TIGHT_COR))
# the independent UM.RS (cor = FALSE) with the same tight PIRLS tolerance (glmm_or/glmm_rate
# hold it at lme4's default, where the reference itself is only good to ~1e-3)
irr_ind <- irr_cor
irr_ind$cor <- FALSE
cor_cases <- c(cor_cases, list(
  run("bcg UM.RS ind ML tight", orb("UM.RS", cor = FALSE), "bcg", TIGHT_COR),
  run("bcg UM.RS ind ML ablat tight", orb("UM.RS", cor = FALSE, mods = bcg$ablat), "bcg",
      TIGHT_COR),
  run("niel7 UM.RS ind ML tight", orn("UM.RS", cor = FALSE), "nielweise2007", TIGHT_COR),
  run("niel8 UM.RS ind ML tight", irr_ind, "nielweise2008", TIGHT_COR)))
write_group("glmm_umrs_cor", cor_cases,
            note = "rma.glmm(model = 'UM.RS', cor = TRUE / FALSE) with tight glmer settings")
if ("glmm_umrs_cor" %in% commandArgs(trailingOnly = TRUE)) quit(save = "no")
for (model in c("UM.FS", "CM.EL", "CM.AL", "UM.RS")) {
  for (method in c("ML", "EE")) {
    add(run(paste("niel7", model, method, "default"), orn(model, method), "nielweise2007"))
    add(run(paste("niel7", model, method, "tight"), orn(model, method), "nielweise2007",
            TIGHT_CMEL))
    add(run(paste("bcg", model, method, "tight"), orb(model, method), "bcg", TIGHT_CMEL))
  }
  add(run(paste("bcg", model, "ML ablat tight"), orb(model, "ML", mods = bcg$ablat), "bcg",
          TIGHT_CMEL))
}
add(run("niel7 UM.FS ML nAGQ1 tight", orn("UM.FS", nAGQ = 1), "nielweise2007", TIGHT_CMEL))
add(run("niel7 UM.FS ML t tight", orn("UM.FS", test = "t", level = 90), "nielweise2007",
        TIGHT_CMEL))
add(run("bcg CM.EL ML ablat default", orb("CM.EL", "ML", mods = bcg$ablat), "bcg"))
# CM.EL's Wald test of heterogeneity depends on where the optimiser leaves the saturated model's
# infinite conditional MLEs (studies with ai = 0 etc.); its limit is the test on the other studies:
interior <- with(niel7, ai > pmax(0, ai + ci - (n2i)) & ai < pmin(n1i, ai + ci))
add(run("niel7 CM.EL EE interior tight", list(measure = "OR", ai = niel7$ai[interior],
        n1i = niel7$n1i[interior], ci = niel7$ci[interior], n2i = niel7$n2i[interior],
        model = "CM.EL", method = "EE"), "nielweise2007 interior", TIGHT_CMEL))
write_group("glmm_or", cases)

cases <- list()
irr <- function(model, method = "ML", ...) list(measure = "IRR", x1i = niel8$x1i, t1i = niel8$t1i,
                                               x2i = niel8$x2i, t2i = niel8$t2i, model = model,
                                               method = method, ...)
for (model in c("UM.FS", "CM.EL", "UM.RS")) {
  for (method in c("ML", "EE")) {
    add(run(paste("niel8", model, method, "tight"), irr(model, method), "nielweise2008",
            TIGHT_CMEL))
  }
}
add(run("niel8 UM.FS ML default", irr("UM.FS"), "nielweise2008"))
for (method in c("ML", "EE")) {
  add(run(paste("niel8 IRLN", method, "tight"),
          list(measure = "IRLN", xi = niel8$x1i, ti = niel8$t1i, method = method),
          "nielweise2008", TIGHT_CMEL))
}
add(run("niel8 IRLN ML nAGQ1 tight",
        list(measure = "IRLN", xi = niel8$x1i, ti = niel8$t1i, nAGQ = 1), "nielweise2008",
        TIGHT_CMEL))
write_group("glmm_rate", cases)

cases <- list()
for (method in c("ML", "EE")) {
  add(run(paste("pritz PLO", method, "default"),
          list(measure = "PLO", xi = pritz$xi, ni = pritz$ni, method = method), "pritz1997"))
  add(run(paste("pritz PLO", method, "tight"),
          list(measure = "PLO", xi = pritz$xi, ni = pritz$ni, method = method), "pritz1997",
          TIGHT_CMEL))
}
add(run("pritz PLO ML nAGQ1 tight", list(measure = "PLO", xi = pritz$xi, ni = pritz$ni, nAGQ = 1),
        "pritz1997", TIGHT_CMEL))
add(run("pritz PLO ML nAGQ15 level90 tight",
        list(measure = "PLO", xi = pritz$xi, ni = pritz$ni, nAGQ = 15, level = 90), "pritz1997",
        TIGHT_CMEL))
add(run("bcg PLO ML ablat tight", list(measure = "PLO", xi = bcg$tpos, mi = bcg$tneg,
                                       mods = bcg$ablat), "bcg", TIGHT_CMEL))
write_group("glmm_plo", cases)

# ---- CM.EL heterogeneity tests from each study's own conditional MLE ----------------------
# metafor's QE.Wld for CM.EL comes from a joint optimisation of the saturated model (one log
# odds ratio per study) and a numerical Hessian; the same statistic computed study by study
# (optimize() on BiasedUrn's density, numDeriv for the information) is the exact value that
# the joint fit approximates. Studies whose events sit at an end of the conditional support
# have an infinite MLE, maximised log-likelihood 0 and information 0 (they drop out).
suppressMessages(library(numDeriv))
cmle_wald <- function(ai, n1i, ci, n2i, X) {
  m <- ai + ci
  inter <- ai > pmax(0, m - n2i) & ai < pmin(n1i, m)
  nll <- function(th, idx) -log(dFNCHypergeo(ai[idx], n1i[idx], n2i[idx], m[idx], exp(th),
                                             precision = 1e-10))
  idx <- which(inter)
  # search around the empirical log odds ratio (BiasedUrn returns NaN far in the tails of a
  # study as large as TPT Madras, 88391 per arm)
  yi <- log((ai + 0.5) * (n2i - ci + 0.5) / ((n1i - ai + 0.5) * (ci + 0.5)))
  th <- sapply(idx, function(j) optimize(nll, lower = yi[j] - 5, upper = yi[j] + 5, idx = j,
                                         tol = 1e-12)$minimum)
  info <- sapply(seq_along(idx), function(j) numDeriv::hessian(nll, th[j], idx = idx[j]))
  Xi <- X[idx, , drop = FALSE]
  W <- diag(info, nrow = length(info))
  b <- solve(t(Xi) %*% W %*% Xi, t(Xi) %*% W %*% th)
  r <- th - Xi %*% b
  list(interior = inter, theta = th, info = info, QE_Wld = sum(info * r^2),
       ll_QE = -sum(sapply(seq_along(idx), function(j) nll(th[j], idx[j]))))
}
cases <- list(
  c(list(name = "niel7 intercept"), with(niel7, cmle_wald(ai, n1i, ci, n2i, cbind(rep(1, 18))))),
  c(list(name = "bcg intercept"), with(bcg, cmle_wald(tpos, tpos + tneg, cpos, cpos + cneg,
                                                    cbind(rep(1, 13))))),
  c(list(name = "bcg ablat"), with(bcg, cmle_wald(tpos, tpos + tneg, cpos, cpos + cneg,
                                                cbind(1, ablat)))))
write_group("glmm_cmel_wald", cases,
            note = "double-zero studies are kept here (none is interior, so they drop out)")

# ---- predict() on rma.glmm fits -----------------------------------------------------------
pr <- function(p) list(pred = num(p$pred), se = num(p$se), ci_lb = num(p$ci.lb),
                       ci_ub = num(p$ci.ub), pi_lb = num(p$pi.lb), pi_ub = num(p$pi.ub))
r1 <- rma.glmm(measure = "PLO", xi = xi, ni = ni, data = pritz, control = TIGHT_CMEL)
r2 <- rma.glmm(measure = "PLO", xi = xi, ni = ni, data = pritz, test = "t", control = TIGHT_CMEL)
r3 <- rma.glmm(measure = "PLO", xi = tpos, mi = tneg, mods = ~ ablat, data = bcg,
               control = TIGHT_CMEL)
cases <- list(
  list(name = "pritz PLO ML", test = "z", level = 95, newmods = NULL, pred = pr(predict(r1))),
  list(name = "pritz PLO ML", test = "t", level = 90, newmods = NULL,
       pred = pr(predict(r2, level = 90))),
  list(name = "pritz PLO ML", test = "z", level = 95, newmods = NULL, transf = "exp",
       pred = pr(predict(r1, transf = exp))),
  list(name = "bcg PLO ML ablat", test = "z", level = 95, newmods = c(10, 40),
       pred = pr(predict(r3, newmods = c(10, 40)))))
write_group("glmm_predict", cases)
