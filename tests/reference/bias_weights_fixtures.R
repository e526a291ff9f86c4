# Reference values for the publication-bias methods of rma.uni fits with user weights
# (weights =), weighted = FALSE and a fixed tau^2 (tau2 = value): trimfill, regtest (model "rma"
# and "lm"), hc, selmodel (fixed tau^2 only: metafor refuses the other two) and
# vif(reestimate = TRUE, sim = n) of metafor (tests/models/test_bias_weights.py).
#
# What metafor 3.8.1 does with these settings (read from its source):
#  * trimfill.rma.uni passes weights (the studies' own, sorted with them), weighted and method
#    to its refits, but no tau2: a fixed tau^2 is re-estimated by x$method; the filled-in
#    studies get the weights of the studies they mirror (c(x$weights.f, wi[(k-k0+1):k])).
#  * regtest(model = "rma") passes weights, weighted, tau2 = ifelse(x$tau2.fix, x$tau2, NA),
#    method, test, level, control; regtest(model = "lm") is lm(yi ~ X, weights = 1/vi) whatever
#    the fit's weights.
#  * hc.rma.uni ignores them (wi <- 1/vi, DL); its *.rma columns are the fit's.
#  * selmodel.rma.uni stops for !x$weighted or user weights; a fixed tau^2 stays fixed.
#
# Run from the repository root:  Rscript tests/reference/bias_weights_fixtures.R
# Reads tests/reference/data/rma_<name>.csv; writes tests/reference/bias_weights/<group>.json.

source(file.path("tests", "reference", "fixture_helpers.R"))

out_dir <- fixture_dir("bias_weights")
rd <- function(nm) read.csv(file.path(data_dir, paste0("rma_", nm, ".csv")))
DATA <- list(bcg = rd("bcg"), normand = rd("normand"), hackshaw = rd("hackshaw"))

# weights from a spec: "iv01" = 1/(vi + 0.1), "isd" = 1/sqrt(vi), "zero1" = isd with study 1 at 0
wts <- function(spec, d) {
  if (is.null(spec)) return(NULL)
  switch(spec, iv01 = 1 / (d$vi + 0.1), isd = 1 / sqrt(d$vi),
         zero1 = c(0, 1 / sqrt(d$vi[-1])))
}

# the settings of the fits: list(weights spec, weighted, tau2)
SETTINGS <- list(
  isd = list(weights = "isd", weighted = TRUE, tau2 = NULL),
  iv01 = list(weights = "iv01", weighted = TRUE, tau2 = NULL),
  zero1 = list(weights = "zero1", weighted = TRUE, tau2 = NULL),
  unweighted = list(weights = NULL, weighted = FALSE, tau2 = NULL),
  unweighted_isd = list(weights = "isd", weighted = FALSE, tau2 = NULL),
  tau2_0.1 = list(weights = NULL, weighted = TRUE, tau2 = 0.1),
  tau2_0 = list(weights = NULL, weighted = TRUE, tau2 = 0),
  tau2_0.2_iv01 = list(weights = "iv01", weighted = TRUE, tau2 = 0.2))

fit_args <- function(data, method, test, mods, s) {
  d <- DATA[[data]]
  if (data == "normand" && !is.null(s$tau2)) s$tau2 <- s$tau2 * 100  # its scale
  args <- list(yi = d$yi, vi = d$vi, method = method, test = test, weighted = s$weighted,
               control = CTRL)
  if (!is.null(mods)) { args$mods <- as.formula(mods); args$data <- d }
  if (!is.null(s$weights)) args$weights <- wts(s$weights, d)
  if (!is.null(s$tau2)) args$tau2 <- s$tau2
  list(args = args, tau2 = s$tau2)
}

header <- function(id, data, method, test, mods, s, tau2) {
  list(id = id, dataset = paste0("rma_", data, ".csv"),
       args = list(method = method, test = test, mods = mods, weights = s$weights,
                   weighted = s$weighted, tau2 = tau2))
}

fitted_cols <- function(v) {
  list(beta = num(v$beta), se = num(v$se), zval = num(v$zval), pval = num(v$pval),
       ci_lb = num(v$ci.lb), ci_ub = num(v$ci.ub), tau2 = num(v$tau2))
}

# ---- trimfill -------------------------------------------------------------------------------
cases <- list()
for (data in c("bcg", "normand", "hackshaw")) {
  for (sn in names(SETTINGS)) {
    s <- SETTINGS[[sn]]
    for (method in c("REML", "DL", "FE")) {
      if (method == "FE" && !is.null(s$tau2)) next
      fa <- fit_args(data, method, "z", NULL, s)
      fit <- do.call(rma, fa$args)
      for (est in c("L0", "R0", "Q0")) {
        for (side in list(NULL, "left", "right")) {
          id <- paste(data, sn, method, est, if (is.null(side)) "auto" else side, sep = "_")
          case <- header(id, data, method, "z", NULL, s, fa$tau2)
          case$estimator <- est
          case$side_arg <- if (is.null(side)) "auto" else side
          r <- if (is.null(side)) capture(trimfill(fit, estimator = est, control = CTRL))
               else capture(trimfill(fit, estimator = est, side = side, control = CTRL))
          case$warnings <- r$warnings
          if (!is.null(r$error)) { case$status <- "error"; case$error <- r$error }
          else {
            v <- r$value
            case$status <- "ok"
            case$result <- c(list(k0 = v$k0, side = v$side, se_k0 = num(v$se.k0),
                                  p_k0 = num(v$p.k0), fill = v$fill, yi = num(v$yi),
                                  vi = num(v$vi), weights = num(v$weights), k = v$k,
                                  tau2_fix = v$tau2.fix, weighted = v$weighted),
                             fitted_cols(v))
          }
          cases[[length(cases) + 1]] <- case
        }
      }
    }
  }
}
write_group("trimfill", cases, note = "trimfill(rma(yi, vi, <setting>), control = CTRL)")

# ---- regtest --------------------------------------------------------------------------------
cases <- list()
for (data in c("bcg", "normand", "hackshaw")) {
  for (sn in names(SETTINGS)) {
    s <- SETTINGS[[sn]]
    for (method in c("REML", "DL", "FE")) {
      if (method == "FE" && !is.null(s$tau2)) next
      for (test in c("z", "knha")) {
        for (mods in list(NULL, "~ ablat")) {
          if (!is.null(mods) && data != "bcg") next
          fa <- fit_args(data, method, test, mods, s)
          fit <- suppressWarnings(do.call(rma, fa$args))
          for (model in c("rma", "lm")) {
            for (pr in c("sei", "vi")) {
              id <- paste(data, sn, method, test, if (is.null(mods)) "int" else "ablat", model,
                          pr, sep = "_")
              case <- header(id, data, method, test, mods, s, fa$tau2)
              case$model <- model
              case$predictor <- pr
              r <- capture(regtest(fit, model = model, predictor = pr))
              case$warnings <- r$warnings
              if (!is.null(r$error)) { case$status <- "error"; case$error <- r$error }
              else {
                v <- r$value
                case$status <- "ok"
                res <- list(zval = num(v$zval), pval = num(v$pval), dfs = num(v$dfs),
                            est = num(v$est), ci_lb = num(v$ci.lb), ci_ub = num(v$ci.ub))
                if (model == "rma") {
                  res$fit <- fitted_cols(v$fit)
                } else {
                  cf <- coef(summary(v$fit))
                  res$fit <- list(beta = num(cf[, 1]), se = num(cf[, 2]), tval = num(cf[, 3]),
                                  pval = num(cf[, 4]))
                }
                case$result <- res
              }
              cases[[length(cases) + 1]] <- case
            }
          }
        }
      }
    }
  }
}
write_group("regtest", cases, note = "regtest(rma(yi, vi, <setting>), model, predictor)")

# ---- hc ---------------------------------------------------------------------------------------
cases <- list()
for (data in c("bcg", "normand", "hackshaw")) {
  for (sn in names(SETTINGS)) {
    s <- SETTINGS[[sn]]
    fa <- fit_args(data, "REML", "z", NULL, s)
    fit <- do.call(rma, fa$args)
    case <- header(paste(data, sn, "REML", sep = "_"), data, "REML", "z", NULL, s, fa$tau2)
    r <- capture(hc(fit, control = list(tol = 1e-12)))
    case$warnings <- r$warnings
    if (!is.null(r$error)) { case$status <- "error"; case$error <- r$error }
    else {
      v <- r$value
      case$status <- "ok"
      case$result <- list(beta = num(v$beta), se = num(v$se), ci_lb = num(v$ci.lb),
                          ci_ub = num(v$ci.ub), tau2 = num(v$tau2), beta_rma = num(v$beta.rma),
                          se_rma = num(v$se.rma), ci_lb_rma = num(v$ci.lb.rma),
                          ci_ub_rma = num(v$ci.ub.rma), tau2_rma = num(v$tau2.rma))
    }
    cases[[length(cases) + 1]] <- case
  }
}
write_group("hc", cases, note = "hc(rma(yi, vi, <setting>), control = list(tol = 1e-12))")

# ---- selmodel: refused with weights / weighted = FALSE; a fixed tau^2 stays fixed ------------
cases <- list()
for (sn in c("isd", "unweighted", "tau2_0.1", "tau2_0")) {
  s <- SETTINGS[[sn]]
  for (type in c("stepfun", "beta", "halfnorm")) {
    fa <- fit_args("bcg", "REML", "z", NULL, s)
    fit <- do.call(rma, fa$args)
    case <- header(paste("bcg", sn, "REML", type, sep = "_"), "bcg", "REML", "z", NULL, s,
                   fa$tau2)
    case$type <- type
    # optim run tight as bias_fixtures.R (ndeps: one per parameter, beta, tau2 and the deltas)
    ctl <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000,
                ndeps = rep(1e-5, if (type == "halfnorm") 3 else 4),
                intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L))
    r <- capture(if (type == "stepfun") selmodel(fit, type = type, steps = 0.025, control = ctl)
                 else selmodel(fit, type = type, control = ctl))
    case$warnings <- r$warnings
    if (!is.null(r$error)) { case$status <- "error"; case$error <- r$error }
    else {
      v <- r$value
      case$status <- "ok"
      case$result <- list(beta = num(v$beta), se = num(v$se), tau2 = num(v$tau2),
                          delta = num(v$delta), se_delta = num(v$se.delta), ll = num(v$ll),
                          LRT = num(v$LRT), LRTp = num(v$LRTp))
    }
    cases[[length(cases) + 1]] <- case
  }
}
write_group("selmodel", cases, note = "selmodel(rma(bcg, <setting>)): metafor's refusals and fits")

# ---- vif(reestimate = TRUE): exact values, and the distribution of sim = n ---------------------
PROBS <- c(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
NSIM <- 2000
cases <- list()
for (sn in c("none", "isd", "unweighted", "tau2_0.1")) {
  s <- if (sn == "none") list(weights = NULL, weighted = TRUE, tau2 = NULL) else SETTINGS[[sn]]
  for (mods in c("~ ablat + year", "~ ablat * year + alloc")) {
    fa <- fit_args("bcg", "REML", "z", mods, s)
    fit <- do.call(rma, fa$args)
    id <- paste("bcg", sn, gsub("[^a-z*+]", "", mods), sep = "_")
    case <- header(id, "bcg", "REML", "z", mods, s, fa$tau2)
    v <- vif(fit, reestimate = TRUE)
    case$status <- "ok"
    case$result <- list(vif = num(v$vifs))
    if (sn %in% c("none", "isd", "tau2_0.1")) {
      vs <- vif(fit, reestimate = TRUE, sim = NSIM, seed = 1, progbar = FALSE)
      sm <- vs$sim
      fin <- function(x) x[is.finite(x)]
      case$result$sim <- list(
        nsim = NSIM, type = attr(sm, "type"), prop = num(vs$prop), probs = PROBS,
        quantiles = lapply(seq_len(ncol(sm)), function(j) num(quantile(fin(sm[, j]), PROBS))),
        share_inf = num(colMeans(is.infinite(sm))), share_na = num(colMeans(is.na(sm))))
    }
    cases[[length(cases) + 1]] <- case
  }
}
write_group("vif_reestimate", cases,
            note = "vif(rma(bcg, mods, <setting>), reestimate = TRUE[, sim = 2000, seed = 1])")
