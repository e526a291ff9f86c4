# Reference values for evsynth.meta (tests/models/test_meta_reference.py).
#
# Run from the repository root:  Rscript tests/reference/rma_fixtures.R
# Requires R with metafor (>= 3.8), metadat and jsonlite. Writes
#   tests/reference/data/rma_<dataset>.csv   (the yi/vi and moderators used)
#   tests/reference/rma/<group>.json         (a list of cases per file)
# The Python tests read these files only; they never need R.
#
# Every case stores the dataset, the call arguments (with both the R and the Python spelling of the
# moderators) and the outputs at full precision. Cases that metafor refuses are recorded with
# status = "error" and metafor's message; warnings are recorded too.
#
# NOTE (deliberate difference): metafor 3.8.1 centres yi before computing QE and the tau^2
# estimators, even for models WITHOUT an intercept, which is wrong there (for bcg, mods = ~ ablat - 1,
# method = "DL": metafor QE = 209.69, y'Py = 48.70). The no-intercept fixtures (noint_bcg.json) are
# therefore computed by plain matrix algebra below (Viechtbauer 2010, JSS 36(3); Raudenbush 2009),
# and the matrix algebra is checked against rma() on models WITH an intercept first.

source(file.path("tests", "reference", "fixture_helpers.R"))

out_dir <- fixture_dir("rma")

CI_CTRL <- list(tol = 1e-12, maxiter = 10000)
METHODS <- c("EE", "FE", "DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS", "HSk", "DLIT", "SJIT",
             "PMM")
TESTS <- c("z", "t", "knha", "adhoc")


# rma() with threshold = 1e-12; metafor's convergence criterion is an ABSOLUTE change in tau^2, which
# cannot be met when tau^2 is large (huge variances) or when the iteration ends in a floating-point
# cycle (DLIT). Then retry with a looser threshold and record the control actually used.
fit_rma <- function(d, ...) {
  args <- c(list(yi = d$yi, vi = d$vi), list(...))
  if (!is.null(args$mods)) args$data <- d
  r <- capture(do.call(rma, c(args, list(control = CTRL))))
  r$control <- CTRL
  if (!is.null(r$error) && grepl("converge", r$error)) {
    for (th in c(1e-10, 1e-8, 1e-6, 1e-4)) {
      ctrl <- list(threshold = th, tol = 1e-12, maxiter = 1000)
      r2 <- capture(do.call(rma, c(args, list(control = ctrl))))
      if (is.null(r2$error)) {
        r2$control <- ctrl
        r2$warnings <- c(r2$warnings,
                         list(paste0("retried: with threshold = 1e-12: ", r$error)))
        return(r2)
      }
    }
  }
  r
}

# NOTE: na = "string" so that Inf/-Inf/NaN/NA survive as the strings "Inf", "-Inf", "NaN", "NA"
# (with na = "null" jsonlite would write Inf as null); a missing (NULL) output is written as null.

# ---- datasets (exported to CSV so the Python tests use exactly the same numbers) -------------
datasets <- list()

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets$bcg <- data.frame(study = paste(bcg$author, bcg$year), yi = as.numeric(bcg$yi),
                           vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year,
                           alloc = bcg$alloc)

nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
              n2i = n2i, data = dat.normand1999)
datasets$normand <- data.frame(study = nor$source, yi = as.numeric(nor$yi),
                               vi = as.numeric(nor$vi))

hack <- dat.hackshaw1998
datasets$hackshaw <- data.frame(study = paste(hack$author, hack$year), yi = hack$yi, vi = hack$vi)

rau <- dat.raudenbush1985
datasets$raudenbush <- data.frame(study = paste(rau$author, rau$year), yi = rau$yi, vi = rau$vi,
                                  weeks = rau$weeks)

hin <- escalc(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.hine1989)
datasets$hine <- data.frame(study = hin$source, yi = as.numeric(hin$yi), vi = as.numeric(hin$vi))

# Yusuf et al. (1985), table 6 (NA separator rows removed), log odds ratios with escalc's default
# 1/2 correction for zero cells
yus <- dat.yusuf1985[dat.yusuf1985$table == "6" & !is.na(dat.yusuf1985$ai), ]
yus <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = yus)
datasets$yusuf <- data.frame(study = make.unique(as.character(yus$trial)),
                             yi = as.numeric(yus$yi), vi = as.numeric(yus$vi))

mol <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
datasets$molloy <- data.frame(study = paste(mol$authors, mol$year), yi = as.numeric(mol$yi),
                              vi = as.numeric(mol$vi))

# synthetic edge cases
datasets$k2 <- data.frame(study = c("A", "B"), yi = c(0.2, 0.9), vi = c(0.04, 0.09))
datasets$k1 <- data.frame(study = "Solo", yi = 0.5, vi = 0.1)
# homogeneous: Q < k - 1, so tau^2 sits at the boundary 0 for every estimator
datasets$homog <- data.frame(study = LETTERS[1:6], yi = c(0.10, 0.12, 0.08, 0.11, 0.09, 0.105),
                             vi = c(0.05, 0.08, 0.04, 0.10, 0.06, 0.07))
datasets$huge <- data.frame(study = LETTERS[1:6], yi = c(1200, -300, 2500, 800, -1500, 400),
                            vi = c(1e6, 2e6, 5e5, 1.5e6, 8e5, 3e6))
datasets$tiny <- data.frame(study = LETTERS[1:5], yi = c(0.1, 0.3, -0.2, 0.25, 0.05),
                            vi = c(1e-8, 2e-8, 1.5e-8, 0.5e-8, 3e-8))
datasets$tinyhomog <- data.frame(study = LETTERS[1:5],
                                 yi = c(1.0e-4, 1.2e-4, 0.9e-4, 1.1e-4, 1.05e-4),
                                 vi = c(1e-8, 2e-8, 1.5e-8, 0.5e-8, 3e-8))
datasets$identical <- data.frame(study = LETTERS[1:5], yi = rep(0.3, 5),
                                 vi = c(0.01, 0.05, 0.02, 0.1, 0.03))

# a REML/ML likelihood with two interior maxima (tau^2 = 0.0019 and 0.0692; found in the 1e6
# benchmark batch): the estimate must be the global maximum
datasets$bimodal <- data.frame(study = LETTERS[1:10],
  yi = c(0.48497671353998167, 0.4472465672597114, 0.2984089892513892, 0.37031211433377542, -0.96078171207511542, 0.24964538342808484, 0.32422944900226336, 0.206494589955874, 0.78617838970340159, 1.4996022113122101),
  vi = c(0.010323498261468632, 0.038324199149234156, 0.078000641946844376, 0.010207085453620658, 0.1664081114916465, 0.086416770453534214, 0.19336437413995111, 0.093080844906764978, 0.051948720216330832, 0.1962612632444436))

for (nm in names(datasets)) {
  write.csv(datasets[[nm]], file.path(data_dir, paste0("rma_", nm, ".csv")), row.names = FALSE)
}

# ---- outputs ---------------------------------------------------------------------------------
fields <- function(res) {
  fs <- fitstats(res)
  list(
    method = res$method, test = res$test,
    k = res$k, p = res$p, beta = num(res$beta), se = num(res$se), zval = num(res$zval),
    pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), vb = mat(res$vb),
    tau2 = res$tau2, se_tau2 = res$se.tau2, tau = sqrt(res$tau2), I2 = res$I2, H2 = res$H2,
    R2 = if (is.null(res$R2)) NULL else res$R2,
    QE = res$QE, QEp = res$QEp, QM = res$QM, QMp = res$QMp, QMdf = num(res$QMdf),
    weights = num(weights(res)), ll = as.numeric(logLik(res)), AIC = AIC(res), BIC = BIC(res),
    AICc = as.numeric(fs["AICc:", 1]), s2w = res$s2w, ddf = num(res$ddf)
  )
}

pred_fields <- function(pr) {
  list(pred = num(pr$pred), se = num(pr$se), ci_lb = num(pr$ci.lb), ci_ub = num(pr$ci.ub),
       pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub))
}

predictions <- function(res, newmods = NULL, exp_too = FALSE) {
  out <- list()
  for (pt in c("default", "t", "riley")) {
    r <- capture(if (is.null(newmods)) predict(res, pi.type = pt)
                 else predict(res, newmods = newmods, pi.type = pt))
    out[[pt]] <- if (is.null(r$error)) pred_fields(r$value) else list(error = r$error)
  }
  r <- capture(if (is.null(newmods)) predict(res, level = 90) else
               predict(res, newmods = newmods, level = 90))
  out$level90 <- if (is.null(r$error)) pred_fields(r$value) else list(error = r$error)
  if (exp_too) {
    r <- capture(if (is.null(newmods)) predict(res, transf = exp)
                 else predict(res, newmods = newmods, transf = exp))
    out$exp <- if (is.null(r$error)) pred_fields(r$value) else list(error = r$error)
  }
  out
}

# ---- 1. intercept-only models: every method x test, per dataset ------------------------------
ratio <- c(bcg = TRUE, yusuf = TRUE, hackshaw = TRUE)
for (ds in names(datasets)) {
  d <- datasets[[ds]]
  cases <- list()
  for (m in METHODS) for (tt in TESTS) {
    r <- fit_rma(d, method = m, test = tt)
    case <- list(id = paste(ds, m, tt, sep = "_"), dataset = paste0("rma_", ds, ".csv"),
                 args = list(method = m, test = tt, level = 95),
                 control = r$control, warnings = r$warnings)
    if (!is.null(r$error)) {
      case$status <- "error"
      case$error <- r$error
    } else {
      case$status <- "ok"
      case$result <- fields(r$value)
      case$predict <- predictions(r$value, exp_too = isTRUE(ratio[ds]))
    }
    cases[[length(cases) + 1]] <- case
  }
  # a non-default level for a few methods
  for (m in c("FE", "DL", "REML")) for (tt in c("z", "knha")) {
    r <- fit_rma(d, method = m, test = tt, level = 90)
    case <- list(id = paste(ds, m, tt, "level90", sep = "_"), dataset = paste0("rma_", ds, ".csv"),
                 args = list(method = m, test = tt, level = 90), control = r$control,
                 warnings = r$warnings)
    if (!is.null(r$error)) {
      case$status <- "error"
      case$error <- r$error
    } else {
      case$status <- "ok"
      case$result <- fields(r$value)
    }
    cases[[length(cases) + 1]] <- case
  }
  write_group(paste0("uni_", ds), cases)
}

# ---- 2. meta-regression (bcg) ------------------------------------------------------------------
bcgd <- datasets$bcg
regs <- list(
  ablat = list(r = ~ ablat, py = "~ ablat", cols = "ablat",
               newmods = matrix(c(10, 30, 50), ncol = 1)),
  ablat_year = list(r = ~ ablat + year, py = "~ ablat + year", cols = c("ablat", "year"),
                    newmods = rbind(c(10, 1950), c(30, 1970), c(50, 1980))),
  ablat_alloc = list(r = ~ ablat + factor(alloc), py = "~ ablat + C(alloc)",
                     cols = c("ablat", "allocrandom", "allocsystematic"),
                     newmods = rbind(c(10, 0, 0), c(30, 1, 0), c(50, 0, 1)))
)
Xalloc <- model.matrix(~ ablat + factor(alloc), data = bcgd)[, -1]
reg_cases <- list()
for (rn in names(regs)) {
  rg <- regs[[rn]]
  for (m in METHODS) for (tt in TESTS) {
    r <- fit_rma(bcgd, mods = rg$r, method = m, test = tt)
    case <- list(id = paste("bcg", rn, m, tt, sep = "_"), dataset = "rma_bcg.csv",
                 args = list(method = m, test = tt, level = 95, mods_r = deparse(rg$r),
                             mods = rg$py, mod_columns = as.list(rg$cols), newmods = mat(rg$newmods)),
                 control = r$control, warnings = r$warnings)
    if (!is.null(r$error)) {
      case$status <- "error"
      case$error <- r$error
    } else {
      res <- r$value
      case$status <- "ok"
      case$result <- fields(res)
      case$predict_new <- predictions(res, newmods = rg$newmods, exp_too = TRUE)
      case$predict_fitted <- pred_fields(predict(res))
      if (rn == "ablat_alloc") {
        # Wald tests: anova(res, btt = 3:4) (R's 1-based btt) and anova(res, X = L)
        a <- anova(res, btt = 3:4)
        case$anova_btt <- list(btt_r = 3:4, btt = 2:3, QM = a$QM, QMdf = num(a$QMdf),
                               QMp = a$QMp)
        L <- rbind(c(0, 1, 0, 0), c(0, 0, 1, -1))
        a <- anova(res, X = L)
        case$anova_L <- list(L = mat(L), QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp,
                             Xb = num(a$Xb), se = num(a$se), zval = num(a$zval),
                             pval = num(a$pval))
      }
    }
    reg_cases[[length(reg_cases) + 1]] <- case
  }
}
# the model's own btt argument (rma(..., btt = 3:4): QM tests only the alloc dummies)
for (m in c("REML", "DL", "FE")) for (tt in c("z", "knha")) {
  res <- rma(yi, vi, mods = ~ ablat + factor(alloc), data = bcgd, method = m, test = tt,
             btt = 3:4, control = CTRL)
  reg_cases[[length(reg_cases) + 1]] <- list(
    id = paste("bcg_ablat_alloc_btt", m, tt, sep = "_"), dataset = "rma_bcg.csv",
    args = list(method = m, test = tt, level = 95, mods_r = "~ablat + factor(alloc)",
                mods = "~ ablat + C(alloc)", mod_columns = as.list(regs$ablat_alloc$cols),
                btt_r = 3:4, btt = 2:3),
    warnings = character(0), status = "ok", result = fields(res))
}
# raudenbush: weeks as moderator (small k, 19 studies)
for (m in c("REML", "ML", "DL", "FE")) for (tt in c("z", "knha")) {
  res <- rma(yi, vi, mods = ~ weeks, data = datasets$raudenbush, method = m, test = tt,
             control = CTRL)
  reg_cases[[length(reg_cases) + 1]] <- list(
    id = paste("raudenbush_weeks", m, tt, sep = "_"), dataset = "rma_raudenbush.csv",
    args = list(method = m, test = tt, level = 95, mods_r = "~weeks", mods = "~ weeks",
                mod_columns = list("weeks"), newmods = list(0, 3, 10)),
    warnings = character(0), status = "ok", result = fields(res),
    predict_new = predictions(res, newmods = c(0, 3, 10)),
    predict_fitted = pred_fields(predict(res)))
}
write_group("reg_bcg", reg_cases)

# ---- 3. no-intercept models by matrix algebra -------------------------------------------------
# Viechtbauer (2010) eqs for the weighted least-squares fit; DL: DerSimonian & Laird (1986)
# generalised (Raudenbush 2009, eq. 16.39); HE: Hedges (1983); ML/REML: roots of the score
# equations (Viechtbauer 2005, eqs. 8 and 11), solved with uniroot to 1e-15.
wfit <- function(y, v, X, tau2) {
  w <- 1 / (v + tau2)
  W <- diag(w, nrow = length(y))
  A <- crossprod(X, W %*% X)
  Ainv <- solve(A)
  beta <- Ainv %*% crossprod(X, W %*% y)
  P <- W - W %*% X %*% Ainv %*% t(X) %*% W
  list(w = w, W = W, A = A, Ainv = Ainv, beta = beta, P = P,
       RSS = c(t(y) %*% P %*% y), res = c(y - X %*% beta))
}
tr <- function(M) sum(diag(M))
tau2_algebra <- function(y, v, X, method) {
  k <- length(y); p <- ncol(X)
  if (method %in% c("FE", "EE")) return(0)
  if (method == "DL") {
    f <- wfit(y, v, X, 0)
    return(max(0, (f$RSS - (k - p)) / tr(f$P)))
  }
  if (method == "HE") {
    Pols <- diag(k) - X %*% solve(crossprod(X)) %*% t(X)
    return(max(0, (c(t(y) %*% Pols %*% y) - tr(Pols %*% diag(v))) / (k - p)))
  }
  score <- switch(method,
    REML = function(t2) { f <- wfit(y, v, X, t2); c(t(y) %*% f$P %*% f$P %*% y) - tr(f$P) },
    ML = function(t2) { f <- wfit(y, v, X, t2); sum(f$w^2 * f$res^2) - sum(f$w) })
  if (score(0) <= 0) return(0)
  hi <- 1
  while (score(hi) > 0) hi <- hi * 2
  uniroot(score, c(0, hi), tol = 1e-15, maxiter = 10000)$root
}
fit_algebra <- function(y, v, X, method, test, intercept) {
  k <- length(y); p <- ncol(X)
  tau2 <- tau2_algebra(y, v, X, method)
  f <- wfit(y, v, X, tau2)
  f0 <- wfit(y, v, X, 0)
  vb <- f$Ainv
  s2w <- 1
  if (test == "knha") {
    s2w <- f$RSS / (k - p)
    vb <- vb * s2w
  }
  se <- sqrt(diag(vb))
  z <- c(f$beta) / se
  if (test == "z") {
    pval <- 2 * pnorm(abs(z), lower.tail = FALSE)
    crit <- qnorm(0.975)
  } else {
    pval <- 2 * pt(abs(z), df = k - p, lower.tail = FALSE)
    crit <- qt(0.975, df = k - p)
  }
  btt <- if (intercept) 2:p else 1:p
  bb <- f$beta[btt]
  QM <- c(t(bb) %*% solve(vb[btt, btt, drop = FALSE]) %*% bb)
  if (test == "z") {
    QMdf <- length(btt)
    QMp <- pchisq(QM, QMdf, lower.tail = FALSE)
  } else {
    QM <- QM / length(btt)
    QMdf <- c(length(btt), k - p)
    QMp <- pf(QM, QMdf[1], QMdf[2], lower.tail = FALSE)
  }
  QE <- f0$RSS
  vt <- (k - p) / tr(f0$P)
  if (method %in% c("FE", "EE")) {
    I2 <- max(0, 100 * (QE - (k - p)) / QE)
    H2 <- QE / (k - p)
  } else {
    I2 <- 100 * tau2 / (vt + tau2)
    H2 <- tau2 / vt + 1
  }
  llML <- -0.5 * k * log(2 * pi) - 0.5 * sum(log(v + tau2)) - 0.5 * f$RSS
  llREML <- -0.5 * (k - p) * log(2 * pi) + 0.5 * determinant(crossprod(X))$modulus[1] -
    0.5 * sum(log(v + tau2)) - 0.5 * determinant(f$A)$modulus[1] - 0.5 * f$RSS
  list(beta = c(f$beta), se = se, zval = z, pval = pval, ci_lb = c(f$beta) - crit * se,
       ci_ub = c(f$beta) + crit * se, vb = mat(vb), tau2 = tau2, QE = QE,
       QEp = pchisq(QE, k - p, lower.tail = FALSE), I2 = I2, H2 = H2, QM = QM, QMdf = QMdf,
       QMp = QMp, weights = 100 * f$w / sum(f$w), ll_ML = llML, ll_REML = llREML, k = k, p = p)
}

# check the algebra against rma() on models WITH an intercept (where metafor is right)
Xi <- cbind(1, bcgd$ablat, bcgd$year)
for (m in c("FE", "DL", "HE", "REML", "ML")) for (tt in c("z", "knha")) {
  a <- fit_algebra(bcgd$yi, bcgd$vi, Xi, m, tt, intercept = TRUE)
  r <- rma(yi, vi, mods = ~ ablat + year, data = bcgd, method = m, test = tt, control = CTRL)
  chk <- c(a$tau2 - r$tau2, a$beta - c(r$beta), a$se - r$se, a$QE - r$QE, a$QM - r$QM,
           a$I2 - r$I2, a$pval - r$pval)
  if (max(abs(chk)) > 1e-8 * max(1, abs(c(a$beta, a$QE, a$QM, a$I2))))
    stop("matrix algebra disagrees with rma() for ", m, " ", tt, ": ", max(abs(chk)))
  ll <- if (m == "REML") a$ll_REML else a$ll_ML
  if (abs(ll - as.numeric(logLik(r))) > 1e-8) stop("logLik disagrees for ", m)
}

noint_cases <- list()
noint_specs <- list(ablat = list(cols = "ablat"), ablat_year = list(cols = c("ablat", "year")),
                    alloc = list(cols = c("allocalternate", "allocrandom", "allocsystematic")))
Xall <- cbind(ablat = bcgd$ablat, year = bcgd$year,
              model.matrix(~ factor(alloc) - 1, data = bcgd))
colnames(Xall) <- c("ablat", "year", "allocalternate", "allocrandom", "allocsystematic")
for (sn in names(noint_specs)) {
  X <- Xall[, noint_specs[[sn]]$cols, drop = FALSE]
  for (m in c("FE", "DL", "HE", "REML", "ML")) for (tt in c("z", "knha")) {
    a <- fit_algebra(bcgd$yi, bcgd$vi, X, m, tt, intercept = FALSE)
    mf <- rma(bcgd$yi, bcgd$vi, mods = X, intercept = FALSE, method = m, test = tt,
              control = CTRL)
    noint_cases[[length(noint_cases) + 1]] <- list(
      id = paste("bcg_noint", sn, m, tt, sep = "_"), dataset = "rma_bcg.csv",
      args = list(method = m, test = tt, level = 95, intercept = FALSE,
                  mod_columns = as.list(noint_specs[[sn]]$cols)),
      status = "ok", source = "matrix algebra (uncentred y)", result = a,
      metafor = list(QE = mf$QE, tau2 = mf$tau2, beta = num(mf$beta), I2 = mf$I2))
  }
}
write_group("noint_bcg", noint_cases,
            note = paste("No-intercept models computed by matrix algebra with the uncentred y;",
                         "metafor 3.8.1's own QE/tau2 (centred y, wrong here) are kept under",
                         "'metafor' to document the difference."))

# ---- 4. confidence intervals for tau^2, tau, I^2, H^2 (Q-profile) ------------------------------
ci_cases <- list()
ci_specs <- list(
  list("bcg", NULL, "REML"), list("bcg", NULL, "ML"), list("bcg", NULL, "DL"),
  list("bcg", NULL, "PM"), list("bcg", NULL, "HE"), list("bcg", NULL, "SJ"),
  list("hackshaw", NULL, "REML"), list("hackshaw", NULL, "DL"),
  list("normand", NULL, "REML"), list("raudenbush", NULL, "REML"),
  list("molloy", NULL, "REML"), list("hine", NULL, "REML"), list("homog", NULL, "REML"),
  list("identical", NULL, "REML"), list("huge", NULL, "REML"), list("tiny", NULL, "REML"),
  list("k2", NULL, "REML"),
  list("bcg", "ablat", "REML"), list("bcg", "ablat", "DL"), list("bcg", "ablat_year", "ML")
)
for (sp in ci_specs) {
  ds <- sp[[1]]; rn <- sp[[2]]; m <- sp[[3]]
  d <- datasets[[ds]]
  for (lev in c(95, 90)) {
    f <- if (is.null(rn)) fit_rma(d, method = m)
         else fit_rma(d, mods = regs[[rn]]$r, method = m)
    res <- f$value
    # metafor's default tau2.max (100 here) truncates the upper bound for k = 2; widen it
    ci_ctrl <- c(CI_CTRL, list(tau2.max = 1e4 * max(1, var(d$yi), max(d$vi))))
    r <- if (is.null(f$error)) capture(confint(res, level = lev, control = ci_ctrl)) else f
    args <- list(method = m, test = "z", level = 95, ci_level = lev)
    if (!is.null(rn)) {
      args$mods <- regs[[rn]]$py
      args$mods_r <- deparse(regs[[rn]]$r)
    }
    case <- list(id = paste(c(ds, rn, m, lev), collapse = "_"), dataset = paste0("rma_", ds, ".csv"),
                 args = args, warnings = r$warnings)
    if (!is.null(r$error)) {
      case$status <- "error"
      case$error <- r$error
    } else {
      rnd <- r$value$random
      case$status <- "ok"
      case$tau2 <- res$tau2
      case$confint <- list(
        rows = c("tau2", "tau", "I2", "H2"),
        estimate = num(rnd[, "estimate"]), ci_lb = num(rnd[, "ci.lb"]),
        ci_ub = num(rnd[, "ci.ub"]),
        lb_sign = attr(r$value$random, "lb.sign"), ub_sign = attr(r$value$random, "ub.sign"))
    }
    ci_cases[[length(ci_cases) + 1]] <- case
  }
}
write_group("confint", ci_cases, note = "metafor confint(res, level, control = list(tol = 1e-12, tau2.max = ...))$random")

# ---- 5. anova: likelihood-ratio tests between nested fits ---------------------------------------
lrt_cases <- list()
lrt_specs <- list(
  list(full = "ablat_year", reduced = "ablat"), list(full = "ablat", reduced = NULL),
  list(full = "ablat_alloc", reduced = "ablat"), list(full = "ablat_year", reduced = NULL)
)
for (sp in lrt_specs) for (m in c("ML", "REML")) {
  full <- rma(yi, vi, mods = regs[[sp$full]]$r, data = bcgd, method = m, control = CTRL)
  red <- if (is.null(sp$reduced)) rma(yi, vi, data = bcgd, method = m, control = CTRL)
         else rma(yi, vi, mods = regs[[sp$reduced]]$r, data = bcgd, method = m, control = CTRL)
  r <- capture(anova(full, red))
  a <- r$value
  lrt_cases[[length(lrt_cases) + 1]] <- list(
    id = paste("bcg", sp$full, "vs", if (is.null(sp$reduced)) "intercept" else sp$reduced, m,
               sep = "_"),
    dataset = "rma_bcg.csv",
    args = list(method = m, test = "z",
                full = regs[[sp$full]]$py,
                reduced = if (is.null(sp$reduced)) NULL else regs[[sp$reduced]]$py),
    warnings = r$warnings, status = "ok",
    result = list(LRT = a$LRT, df = a$parms.f - a$parms.r, pval = a$pval, R2 = a$R2,
                  tau2_full = a$tau2.f, tau2_reduced = a$tau2.r,
                  ll_full = as.numeric(logLik(full)), ll_reduced = as.numeric(logLik(red)),
                  QE_full = a$QE.f, QE_reduced = a$QE.r))
}
write_group("anova_lrt", lrt_cases, note = "metafor anova(full, reduced)")

# ---- 6. subgroup analyses (bcg by alloc) ------------------------------------------------------
sub_cases <- list()
levs <- sort(unique(bcgd$alloc))
for (m in c("REML", "DL", "FE", "PM", "ML")) for (tt in c("z", "knha")) {
  per <- list()
  est <- se <- numeric(0)
  for (lv in levs) {
    res <- rma(yi, vi, data = bcgd, subset = alloc == lv, method = m, test = tt, control = CTRL)
    per[[lv]] <- fields(res)
    est <- c(est, c(res$beta)); se <- c(se, res$se)
  }
  qb <- rma(est, sei = se, method = "FE")
  case <- list(id = paste("bcg_alloc_separate", m, tt, sep = "_"), dataset = "rma_bcg.csv",
               args = list(method = m, test = tt, level = 95, subgroup = "alloc",
                           subgroup_tau2 = "separate"),
               status = "ok", levels = levs, subgroups = per,
               result = list(Q_between = qb$QE, Q_between_df = length(levs) - 1,
                             Q_between_p = qb$QEp))
  sub_cases[[length(sub_cases) + 1]] <- case
}
for (m in c("REML", "DL", "ML", "PM")) {
  res <- rma(yi, vi, mods = ~ factor(alloc), data = bcgd, method = m, control = CTRL)
  sub_cases[[length(sub_cases) + 1]] <- list(
    id = paste("bcg_alloc_common", m, "z", sep = "_"), dataset = "rma_bcg.csv",
    args = list(method = m, test = "z", level = 95, subgroup = "alloc", subgroup_tau2 = "common"),
    status = "ok", levels = levs,
    result = list(Q_between = res$QM, Q_between_df = res$QMdf[1], Q_between_p = res$QMp,
                  tau2 = res$tau2,
                  level_estimates = num(predict(res, newmods = rbind(c(0, 0), c(1, 0),
                                                                       c(0, 1)))$pred)))
}
write_group("subgroups", sub_cases,
            note = paste("separate: rma(yi, vi, subset = alloc == level) per level, Q_between =",
                         "rma(est, sei = se, method = 'FE')$QE; common: rma(yi, vi,",
                         "mods = ~ factor(alloc))$QM"))

cat("done\n")
