# Reference values for user weights, weighted = FALSE, fixed tau^2, tau2.init, GENQ/GENQM, the
# confidence intervals for tau^2 (QP, PL, GENQ, Wald, Wald.log, Wald.sqrt), profile() and
# anova(X = L) / anova(full, reduced) of metafor 3.8 rma.uni
# (tests/models/test_meta_weights.py, test_meta_tau2_ci.py, test_meta_profile.py,
# test_meta_anova.py).
#
# Run from the repository root:  Rscript tests/reference/uni_extra_fixtures.R
# Reads the committed data sets tests/reference/data/rma_<name>.csv; writes
# tests/reference/uni_extra/<group>.json.
#
# NOTE: metafor's GENQM estimator and its GENQ confidence interval need the R package
# CompQuadForm (farebrother(); now checked directly by genqm_metafor_fixtures.R). Here their reference
# values are therefore computed below by metafor's own algorithm (.GENQ.func's eigenvalues of
# S P S and uniroot) with the distribution of the quadratic form from Imhof's (1961) formula
# integrated by R's integrate() (rel.tol 1e-11, or down to 1e-6 where it stops): an independent implementation of the same
# quantities (evsynth uses QUADPACK's Fourier-integral routine, not integrate()).

source(file.path("tests", "reference", "fixture_helpers.R"))

out_dir <- fixture_dir("uni_extra")
rd <- function(nm) read.csv(file.path(data_dir, paste0("rma_", nm, ".csv")))
bcg <- rd("bcg")
normand <- rd("normand")
homog <- rd("homog")
rau <- rd("raudenbush")

DATA <- list(bcg = bcg, normand = normand, homog = homog, raudenbush = rau)

# weights from a spec: "iv" = 1/vi, "iv01" = 1/(vi + 0.1), "isd" = 1/sqrt(vi), "unit" = 1
wts <- function(spec, d) {
  if (is.null(spec)) return(NULL)
  switch(spec, iv = 1 / d$vi, iv01 = 1 / (d$vi + 0.1), isd = 1 / sqrt(d$vi), unit = rep(1, nrow(d)))
}
mods_of <- function(spec) if (is.null(spec)) NULL else as.formula(spec)

fit_fields <- function(res) {
  list(beta = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
       ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), vb = mat(res$vb), tau2 = res$tau2,
       se_tau2 = if (is.null(res$se.tau2)) NULL else as.numeric(res$se.tau2),
       QE = res$QE, QEp = res$QEp, QM = res$QM, QMp = res$QMp, I2 = res$I2, H2 = res$H2,
       R2 = if (is.null(res$R2)) NULL else res$R2, parms = res$parms,
       ll_ML = res$fit.stats["ll", "ML"], ll_REML = res$fit.stats["ll", "REML"],
       AIC = AIC(res), BIC = BIC(res), weights = num(weights(res)), s2w = res$s2w)
}

one_fit <- function(id, data, method, test = "z", mods = NULL, weights = NULL, weighted = TRUE,
                    tau2 = NULL, tau2_init = NULL) {
  d <- DATA[[data]]
  ctrl <- CTRL
  if (!is.null(tau2_init)) ctrl$tau2.init <- tau2_init
  args <- list(yi = d$yi, vi = d$vi, method = method, test = test, weighted = weighted,
               control = ctrl)
  if (!is.null(mods)) { args$mods <- mods_of(mods); args$data <- d }
  if (!is.null(weights)) args$weights <- wts(weights, d)
  if (!is.null(tau2)) args$tau2 <- tau2
  r <- capture(do.call(rma, args))
  case <- list(id = id, dataset = paste0("rma_", data, ".csv"),
               args = list(method = method, test = test, mods = mods, weights = weights,
                           weighted = weighted, tau2 = tau2, tau2_init = tau2_init),
               warnings = r$warnings)
  if (!is.null(r$error)) {
    case$status <- "error"; case$error <- r$error
  } else {
    case$status <- "ok"; case$result <- fit_fields(r$value)
  }
  case
}

# ---- user weights, weighted = FALSE, fixed tau^2, tau2.init, GENQ -----------------------------
cases <- list()
for (m in c("DL", "REML", "ML", "PM", "FE", "HE", "SJ", "EB")) {
  for (w in c("iv", "iv01", "isd")) {
    for (mods in list(NULL, "~ ablat")) {
      for (test in c("z", "knha")) {
        id <- paste("bcg", m, w, if (is.null(mods)) "int" else "ablat", test, sep = "_")
        cases[[length(cases) + 1]] <- one_fit(id, "bcg", m, test, mods, weights = w)
      }
    }
  }
  for (mods in list(NULL, "~ ablat")) {
    for (test in c("z", "knha")) {
      id <- paste("bcg", m, "unweighted", if (is.null(mods)) "int" else "ablat", test, sep = "_")
      cases[[length(cases) + 1]] <- one_fit(id, "bcg", m, test, mods, weighted = FALSE)
    }
  }
}
for (m in c("DL", "REML")) {
  cases[[length(cases) + 1]] <- one_fit(paste("normand", m, "isd", sep = "_"), "normand", m,
                                        weights = "isd")
  cases[[length(cases) + 1]] <- one_fit(paste("raudenbush", m, "unweighted_weeks", sep = "_"),
                                        "raudenbush", m, mods = "~ weeks", weighted = FALSE)
}
write_group("weights", cases, note = "rma(yi, vi, weights = w, weighted = ...) with CTRL")

cases <- list()
for (m in c("REML", "ML", "DL", "PM")) {
  for (t2 in c(0, 0.1, 0.5)) {
    for (mods in list(NULL, "~ ablat")) {
      id <- paste("bcg", m, "tau2", t2, if (is.null(mods)) "int" else "ablat", sep = "_")
      cases[[length(cases) + 1]] <- one_fit(id, "bcg", m, "z", mods, tau2 = t2)
    }
  }
}
cases[[length(cases) + 1]] <- one_fit("bcg_REML_tau2_0.2_iv01_knha", "bcg", "REML", "knha",
                                      "~ ablat", weights = "iv01", tau2 = 0.2)
write_group("tau2_fixed", cases, note = "rma(yi, vi, tau2 = value) with CTRL")

cases <- list()
for (m in c("REML", "ML", "EB", "SJ", "SJIT", "DLIT", "PM")) {
  for (init in c(0.05, 2)) {
    id <- paste("bcg", m, "init", init, sep = "_")
    cases[[length(cases) + 1]] <- one_fit(id, "bcg", m, tau2_init = init)
  }
}
write_group("tau2_init", cases, note = "rma(..., control = list(tau2.init = value))")

cases <- list()
for (w in c("iv", "iv01", "isd", "unit")) {
  for (mods in list(NULL, "~ ablat")) {
    for (test in c("z", "knha")) {
      id <- paste("bcg", "GENQ", w, if (is.null(mods)) "int" else "ablat", test, sep = "_")
      cases[[length(cases) + 1]] <- one_fit(id, "bcg", "GENQ", test, mods, weights = w)
    }
  }
}
cases[[length(cases) + 1]] <- one_fit("homog_GENQ_iv", "homog", "GENQ", weights = "iv")
cases[[length(cases) + 1]] <- one_fit("normand_GENQ_isd", "normand", "GENQ", weights = "isd")
cases[[length(cases) + 1]] <- one_fit("bcg_GENQ_noweights", "bcg", "GENQ")
write_group("genq", cases, note = "rma(yi, vi, weights = w, method = 'GENQ') with CTRL")

# ---- GENQM and the GENQ CI by metafor's algorithm with Imhof's formula ------------------------
imhof_sf <- function(q, lambda) {
  lambda <- lambda[lambda > 0]
  f <- function(u) {
    th <- 0.5 * colSums(atan(outer(lambda, u))) - 0.5 * q * u
    rho <- exp(0.25 * colSums(log1p(outer(lambda, u)^2)))
    sin(th) / (u * rho)
  }
  # the tightest tolerance integrate() reaches (the oscillating tail can stop it at 1e-11)
  for (tol in c(1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6)) {
    v <- tryCatch(integrate(f, 0, Inf, subdivisions = 100000L, rel.tol = tol,
                            abs.tol = tol / 100)$value, error = function(e) NULL)
    if (!is.null(v)) return(0.5 + v / pi)
  }
  NA_real_  # integrate() failed at every tolerance
}
genq_parts <- function(d, w, mods) {
  X <- if (is.null(mods)) cbind(rep(1, nrow(d))) else model.matrix(mods_of(mods), data = d)
  A <- diag(w)
  P <- A - A %*% X %*% solve(t(X) %*% A %*% X) %*% t(X) %*% A
  list(P = P, Q = c(t(d$yi) %*% P %*% d$yi), k = nrow(d), p = ncol(X))
}
genq_F <- function(t2, g, vi) {
  S <- diag(sqrt(vi + t2))
  lam <- eigen(S %*% g$P %*% S, symmetric = TRUE, only.values = TRUE)$values[seq_len(g$k - g$p)]
  imhof_sf(g$Q, lam)
}
cases <- list()
for (w in c("iv", "iv01", "isd")) {
  for (mods in list(NULL, "~ ablat")) {
    for (data in c("bcg", "homog")) {
      if (data != "bcg" && !is.null(mods)) next
      d <- DATA[[data]]
      g <- genq_parts(d, wts(w, d), mods)
      F0 <- genq_F(0, g, d$vi)
      tau2m <- if (F0 > 0.5) 0 else
        uniroot(function(t) genq_F(t, g, d$vi) - 0.5, c(0, 20), tol = 1e-13, extendInt = "upX")$root
      lb <- if (F0 > 0.025) 0 else
        uniroot(function(t) genq_F(t, g, d$vi) - 0.025, c(0, 20), tol = 1e-13, extendInt = "upX")$root
      ub <- if (F0 > 0.975) 0 else
        uniroot(function(t) genq_F(t, g, d$vi) - 0.975, c(0, 20), tol = 1e-13, extendInt = "upX")$root
      # the rest of the GENQM fit: rma() with tau^2 fixed at the GENQM value (beta, se)
      margs <- list(yi = d$yi, vi = d$vi, weights = wts(w, d), control = CTRL)
      if (!is.null(mods)) { margs$mods <- mods_of(mods); margs$data <- d }
      fixed <- do.call(rma, c(margs, list(tau2 = tau2m)))
      genq <- do.call(rma, c(margs, list(method = "GENQ")))
      cases[[length(cases) + 1]] <- list(
        id = paste(data, w, if (is.null(mods)) "int" else "ablat", sep = "_"),
        dataset = paste0("rma_", data, ".csv"),
        args = list(weights = w, mods = mods),
        result = list(Q = g$Q, F0 = F0, tau2_genqm = tau2m, beta = num(fixed$beta),
                      se = num(fixed$se), genq_tau2 = genq$tau2, genq_ci_lb = lb,
                      genq_ci_ub = ub, vt = genq$vt, I2_lb = 100 * lb / (genq$vt + lb),
                      I2_ub = 100 * ub / (genq$vt + ub)))
    }
  }
}
# the quadratic-form tail itself (checked against evsynth.models.heterogeneity.qf_sf)
qf <- list()
for (lam in list(c(0.1, 2, 5), c(1e-3, 1), c(1e-4, 0.01, 1), c(3, 1, 0.2, 0.05, 0.01))) {
  for (q in c(0.05, 1, 5, 12)) {
    sf <- imhof_sf(q, lam)
    if (!is.na(sf)) qf[[length(qf) + 1]] <- list(lambda = lam, q = q, sf = sf)
  }
}
write_group("genqm", cases, note = paste(
  "GENQM estimate and 95% GENQ CI by metafor's algorithm (.GENQ.func, uniroot) with Imhof's",
  "formula via integrate(); CompQuadForm is not installed"))
write_json(list(group = "qf", cases = qf), file.path(out_dir, "qf.json"), digits = NA,
           auto_unbox = TRUE, pretty = TRUE)

# ---- confidence intervals for tau^2 -----------------------------------------------------------
ci_case <- function(id, data, method, type, mods = NULL, level = 95, weights = NULL) {
  d <- DATA[[data]]
  args <- list(yi = d$yi, vi = d$vi, method = method, control = CTRL)
  if (!is.null(mods)) { args$mods <- mods_of(mods); args$data <- d }
  if (!is.null(weights)) args$weights <- wts(weights, d)
  res <- do.call(rma, args)
  r <- capture(confint(res, type = type, level = level,
                       control = list(tol = 1e-12, maxiter = 10000)))
  case <- list(id = id, dataset = paste0("rma_", data, ".csv"),
               args = list(method = method, type = type, mods = mods, level = level,
                           weights = weights),
               warnings = r$warnings, tau2 = res$tau2, se_tau2 = res$se.tau2)
  if (!is.null(r$error)) {
    case$status <- "error"; case$error <- r$error
  } else {
    rr <- r$value$random
    case$status <- "ok"
    case$result <- list(estimate = num(rr[, 1]), ci_lb = num(rr[, 2]), ci_ub = num(rr[, 3]),
                        lb_sign = r$value$lb.sign, ub_sign = r$value$ub.sign)
  }
  case
}
cases <- list()
for (type in c("QP", "PL", "Wald", "Wald.log", "Wald.sqrt")) {
  for (m in c("REML", "ML")) {
    for (mods in list(NULL, "~ ablat")) {
      for (level in c(95, 90)) {
        id <- paste("bcg", m, type, if (is.null(mods)) "int" else "ablat", level, sep = "_")
        cases[[length(cases) + 1]] <- ci_case(id, "bcg", m, type, mods, level)
      }
    }
    cases[[length(cases) + 1]] <- ci_case(paste("normand", m, type, sep = "_"), "normand", m,
                                          type)
    cases[[length(cases) + 1]] <- ci_case(paste("homog", m, type, sep = "_"), "homog", m, type)
    cases[[length(cases) + 1]] <- ci_case(paste("raudenbush", m, type, sep = "_"), "raudenbush",
                                          m, type)
  }
}
for (type in c("QP", "Wald", "Wald.log", "Wald.sqrt")) {
  for (m in c("DL", "PM", "SJ")) {
    cases[[length(cases) + 1]] <- ci_case(paste("bcg", m, type, sep = "_"), "bcg", m, type)
  }
}
# PL of a REML fit with user weights (the profile refits with the weights)
cases[[length(cases) + 1]] <- ci_case("bcg_REML_PL_iv01", "bcg", "REML", "PL", weights = "iv01")
write_group("tau2_ci", cases, note = "confint(rma(...), type = type, level = level)")

# ---- profile() ---------------------------------------------------------------------------------
prof_case <- function(id, data, method, mods = NULL, weights = NULL, xlim = NULL, steps = 20) {
  d <- DATA[[data]]
  args <- list(yi = d$yi, vi = d$vi, method = method, control = CTRL)
  if (!is.null(mods)) { args$mods <- mods_of(mods); args$data <- d }
  if (!is.null(weights)) args$weights <- wts(weights, d)
  res <- do.call(rma, args)
  pa <- list(res, steps = steps, plot = FALSE, progbar = FALSE)
  if (!is.null(xlim)) pa$xlim <- xlim
  pr <- do.call(profile, pa)
  list(id = id, dataset = paste0("rma_", data, ".csv"),
       args = list(method = method, mods = mods, weights = weights, xlim = xlim, steps = steps),
       result = list(tau2 = num(pr$tau2), ll = num(pr$ll), beta = mat(pr$beta),
                     ci_lb = mat(pr$ci.lb), ci_ub = mat(pr$ci.ub), xlim = num(pr$xlim),
                     vc = pr$vc, maxll = as.numeric(pr$maxll)))
}
cases <- list(
  prof_case("bcg_REML", "bcg", "REML"),
  prof_case("bcg_ML_ablat", "bcg", "ML", "~ ablat"),
  prof_case("bcg_DL", "bcg", "DL", steps = 7),
  prof_case("bcg_REML_xlim", "bcg", "REML", xlim = c(0, 2), steps = 11),
  prof_case("bcg_REML_iv01", "bcg", "REML", weights = "iv01", steps = 9),
  prof_case("homog_REML", "homog", "REML"),
  prof_case("normand_ML", "normand", "ML", steps = 10)
)
write_group("profile", cases, note = "profile(rma(...), steps, xlim, plot = FALSE)")

# ---- anova(X = L) and anova(full, reduced) -----------------------------------------------------
cases <- list()
L_sets <- list(
  list(mods = "~ ablat + year", L = rbind(c(1, 30, 1960), c(0, 1, 0)), rhs = NULL),
  list(mods = "~ ablat + year", L = rbind(c(1, 30, 1960), c(1, 50, 1970)), rhs = c(-0.5, 0.1)),
  list(mods = "~ ablat + year", L = rbind(c(0, 1, 0), c(0, 0, 1), c(0, 1, 1)), rhs = NULL),
  list(mods = "~ ablat", L = rbind(c(20), c(40)), rhs = NULL),
  list(mods = "~ factor(alloc)", L = rbind(c(0, 1, -1)), rhs = NULL)
)
for (i in seq_along(L_sets)) {
  s <- L_sets[[i]]
  for (test in c("z", "knha")) {
    for (m in c("REML", "DL")) {
      res <- rma(yi, vi, mods = as.formula(s$mods), data = bcg, method = m, test = test,
                 control = CTRL)
      a <- if (is.null(s$rhs)) anova(res, X = s$L) else anova(res, X = s$L, rhs = s$rhs)
      cases[[length(cases) + 1]] <- list(
        id = paste("bcg_L", i, m, test, sep = "_"), dataset = "rma_bcg.csv",
        args = list(mods = sub("factor(alloc)", "C(alloc)", s$mods, fixed = TRUE),
                    method = m, test = test, L = mat(s$L), rhs = num(s$rhs)),
        result = list(Xb = num(a$Xb), se = num(a$se), zval = num(a$zval), pval = num(a$pval),
                      QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp, hyp = a$hyp[[1]]))
    }
  }
}
write_group("anova_L", cases, note = "anova(rma(...), X = L, rhs = rhs)")

cases <- list()
pairs <- list(c("~ ablat + year", "~ ablat"), c("~ ablat", NA), c("~ ablat + factor(alloc)", "~ ablat"))
for (pr in pairs) {
  for (m in c("DL", "EB", "PM", "HE", "SJ", "FE", "ML")) {
    full <- rma(yi, vi, mods = as.formula(pr[1]), data = bcg, method = m, control = CTRL)
    red <- if (is.na(pr[2])) rma(yi, vi, data = bcg, method = m, control = CTRL) else
      rma(yi, vi, mods = as.formula(pr[2]), data = bcg, method = m, control = CTRL)
    lrt <- capture(anova(full, red))
    wald <- anova(full, red, test = "Wald")
    cases[[length(cases) + 1]] <- list(
      id = paste("bcg", m, pr[1], pr[2], sep = "|"), dataset = "rma_bcg.csv",
      args = list(method = m, full = sub("factor(alloc)", "C(alloc)", pr[1], fixed = TRUE),
                  reduced = if (is.na(pr[2])) NULL else pr[2]),
      warnings = lrt$warnings,
      result = list(R2 = lrt$value$R2, tau2_full = lrt$value$tau2.f,
                    tau2_reduced = lrt$value$tau2.r, LRT = lrt$value$LRT,
                    QE_full = lrt$value$QE.f, QE_reduced = lrt$value$QE.r,
                    QM = wald$QM, QMdf = num(wald$QMdf), QMp = wald$QMp))
  }
}
# equal-effects reduced model against an ML random-effects model (LRT of tau^2 = 0)
for (m in c("ML", "REML")) {
  full <- rma(yi, vi, data = bcg, method = m, control = CTRL)
  red <- rma(yi, vi, data = bcg, method = "FE", control = CTRL)
  a <- anova(full, red)
  cases[[length(cases) + 1]] <- list(
    id = paste("bcg", m, "vs_FE", sep = "|"), dataset = "rma_bcg.csv",
    args = list(method = m, full = NULL, reduced = NULL, reduced_method = "FE"),
    warnings = list(),
    result = list(R2 = a$R2, tau2_full = a$tau2.f, tau2_reduced = a$tau2.r, LRT = a$LRT,
                  pval = a$pval, QE_full = a$QE.f, QE_reduced = a$QE.r))
}
write_group("anova_compare", cases, note = "anova(full, reduced) and anova(full, reduced, test='Wald')")

# ---- profile over a coefficient (an evsynth extension): plain algebra -------------------------
# ML log-likelihood of y - b x_j on the other columns, maximised over tau^2 >= 0 by optimize()
# (and compared with tau^2 = 0), the other coefficients by GLS (Hardy & Thompson 1996).
ml_ll <- function(y, v, X, t) {
  w <- 1 / (v + t)
  r <- if (ncol(X) > 0) y - X %*% solve(t(X) %*% (w * X), t(X) %*% (w * y)) else y
  -0.5 * sum(log(2 * pi * (v + t))) - 0.5 * sum(w * r^2)
}
coef_case <- function(id, method, mods, coef, steps) {
  X <- if (is.null(mods)) cbind(intrcpt = rep(1, nrow(bcg))) else {
    M <- model.matrix(as.formula(mods), data = bcg); colnames(M)[1] <- "intrcpt"; M }
  res <- if (is.null(mods)) rma(bcg$yi, bcg$vi, method = method, control = CTRL) else
    rma(bcg$yi, bcg$vi, mods = X[, -1, drop = FALSE], method = method, control = CTRL)
  j <- match(coef, colnames(X))
  xl <- c(res$beta[j] - qnorm(0.995) * res$se[j], res$beta[j] + qnorm(0.995) * res$se[j])
  grid <- seq(xl[1], xl[2], length.out = steps)
  lls <- t2s <- numeric(steps)
  for (i in seq_len(steps)) {
    y <- bcg$yi - grid[i] * X[, j]
    Xr <- X[, -j, drop = FALSE]
    if (method == "FE") {
      t2s[i] <- 0
    } else {
      o <- optimize(function(t) ml_ll(y, bcg$vi, Xr, t), c(0, 10), maximum = TRUE, tol = 1e-13)
      t2s[i] <- if (ml_ll(y, bcg$vi, Xr, 0) >= o$objective) 0 else o$maximum
    }
    lls[i] <- ml_ll(y, bcg$vi, Xr, t2s[i])
  }
  list(id = id, dataset = "rma_bcg.csv",
       args = list(method = method, mods = mods, coef = coef, steps = steps),
       result = list(xlim = xl, grid = grid, ll = lls, tau2 = t2s,
                     beta = res$beta[j], ll_ML = res$fit.stats["ll", "ML"]))
}
cases <- list(
  coef_case("bcg_ML_ablat_ablat", "ML", "~ ablat", "ablat", 9),
  coef_case("bcg_ML_ablat_intrcpt", "ML", "~ ablat", "intrcpt", 9),
  coef_case("bcg_ML_int", "ML", NULL, "intrcpt", 11),
  coef_case("bcg_FE_ablat_ablat", "FE", "~ ablat", "ablat", 5),
  coef_case("bcg_ML_ablat_year_year", "ML", "~ ablat + year", "year", 7)
)
write_group("profile_coef", cases, note = "ML profile over a coefficient by plain algebra")
