# Reference values for the refitting diagnostics of rma.uni fits with user weights
# (weights =), weighted = FALSE and a fixed tau^2 (tau2 = value): leave1out, cumul, rstudent,
# influence (rstudent, dffits, cook.d, cov.r, tau2.del, QE.del, hat, weight, dfbs) and baujat
# of metafor (tests/models/test_refit_weights.py).
#
# Run from the repository root:  Rscript tests/reference/refit_weights_fixtures.R
# Reads tests/reference/data/rma_<name>.csv; writes tests/reference/refit_weights/<group>.json.

source(file.path("tests", "reference", "fixture_helpers.R"))

out_dir <- fixture_dir("refit_weights")
pdf(NULL)  # baujat() draws; nothing is kept
rd <- function(nm) read.csv(file.path(data_dir, paste0("rma_", nm, ".csv")))
DATA <- list(bcg = rd("bcg"), normand = rd("normand"))

# weights from a spec: "iv01" = 1/(vi + 0.1), "isd" = 1/sqrt(vi), "zero1" = isd with study 1 at 0
wts <- function(spec, d) {
  if (is.null(spec)) return(NULL)
  switch(spec, iv01 = 1 / (d$vi + 0.1), isd = 1 / sqrt(d$vi),
         zero1 = c(0, 1 / sqrt(d$vi[-1])))
}

# the columns of a leave1out / cumul object (its list elements; tau2 absent for FE models)
cols <- function(x) {
  nm <- c("estimate", "se", "zval", "pval", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2")
  if (is.null(x[["pval"]])) x[["pval"]] <- x[["pvals"]]  # cumul's name in metafor 3.8
  out <- lapply(nm, function(n) if (is.null(x[[n]])) NULL else unname(as.numeric(x[[n]])))
  names(out) <- nm
  out[!vapply(out, is.null, logical(1))]
}

one_case <- function(id, data, method, test = "z", mods = NULL, weights = NULL,
                     weighted = TRUE, tau2 = NULL, order = NULL) {
  d <- DATA[[data]]
  args <- list(yi = d$yi, vi = d$vi, method = method, test = test, weighted = weighted,
               control = CTRL)
  if (!is.null(mods)) { args$mods <- as.formula(mods); args$data <- d }
  if (!is.null(weights)) args$weights <- wts(weights, d)
  if (!is.null(tau2)) args$tau2 <- tau2
  r <- capture(do.call(rma, args))
  case <- list(id = id, dataset = paste0("rma_", data, ".csv"),
               args = list(method = method, test = test, mods = mods, weights = weights,
                           weighted = weighted, tau2 = tau2, order = order),
               warnings = r$warnings)
  if (!is.null(r$error)) { case$status <- "error"; case$error <- r$error; return(case) }
  fit <- r$value
  case$status <- "ok"
  res <- list(beta = num(fit$beta), tau2 = fit$tau2)
  inf <- influence(fit)
  nm <- c("rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat", "weight")
  res$influence <- setNames(lapply(nm, function(n) num(inf$inf[[n]])), nm)
  res$dfbs <- setNames(lapply(colnames(fit$X), function(n) num(inf$dfbs[[n]])), colnames(fit$X))
  res$is_infl <- unname(inf$is.infl)
  rs <- rstudent(fit)
  res$rstudent <- list(resid = num(rs$resid), se = num(rs$se), z = num(rs$z))
  b <- baujat(fit)  # draws (on the null device) and returns the coordinates invisibly
  res$baujat <- list(x = num(b$x), y = num(b$y))
  if (fit$int.only) {
    l1 <- leave1out(fit)
    res$leave1out <- cols(l1)
    cu <- if (is.null(order)) cumul(fit) else cumul(fit, order = d[[order]])
    res$cumul <- cols(cu)
  }
  case$result <- res
  case
}

cases <- list()
for (m in c("REML", "DL", "FE")) {
  for (w in c("isd", "iv01")) {
    for (mods in list(NULL, "~ ablat")) {
      for (test in c("z", "knha")) {
        id <- paste("bcg", m, w, if (is.null(mods)) "int" else "ablat", test, sep = "_")
        cases[[length(cases) + 1]] <- one_case(id, "bcg", m, test, mods, weights = w,
                                               order = if (is.null(mods)) "year" else NULL)
      }
    }
  }
}
cases[[length(cases) + 1]] <- one_case("bcg_REML_zero1_int_z", "bcg", "REML", weights = "zero1")
cases[[length(cases) + 1]] <- one_case("normand_REML_isd_int_z", "normand", "REML",
                                       weights = "isd")
write_group("weights", cases, note = "rma(yi, vi, weights = w) refitting diagnostics, CTRL")

cases <- list()
for (m in c("REML", "DL", "FE")) {
  for (mods in list(NULL, "~ ablat")) {
    for (test in c("z", "knha")) {
      id <- paste("bcg", m, "unweighted", if (is.null(mods)) "int" else "ablat", test, sep = "_")
      cases[[length(cases) + 1]] <- one_case(id, "bcg", m, test, mods, weighted = FALSE,
                                             order = if (is.null(mods)) "year" else NULL)
    }
  }
}
cases[[length(cases) + 1]] <- one_case("bcg_REML_unweighted_isd_int_z", "bcg", "REML",
                                       weights = "isd", weighted = FALSE)
write_group("unweighted", cases, note = "rma(yi, vi, weighted = FALSE) refitting diagnostics")

cases <- list()
for (m in c("REML", "DL")) {
  for (t2 in c(0, 0.1)) {
    for (mods in list(NULL, "~ ablat")) {
      for (test in c("z", "knha")) {
        id <- paste("bcg", m, "tau2", t2, if (is.null(mods)) "int" else "ablat", test,
                    sep = "_")
        cases[[length(cases) + 1]] <- one_case(id, "bcg", m, test, mods, tau2 = t2,
                                               order = if (is.null(mods)) "year" else NULL)
      }
    }
  }
}
cases[[length(cases) + 1]] <- one_case("bcg_REML_tau2_0.2_iv01_ablat_knha", "bcg", "REML",
                                       "knha", "~ ablat", weights = "iv01", tau2 = 0.2)
cases[[length(cases) + 1]] <- one_case("bcg_REML_tau2_0.2_unweighted_int_z", "bcg", "REML",
                                       weighted = FALSE, tau2 = 0.2)
write_group("tau2_fixed", cases, note = "rma(yi, vi, tau2 = value) refitting diagnostics")

# ---- vif(sim = n): the permutation distribution of the (G)VIFs ---------------------------------
# metafor's .compvifsim shuffles each data column the formula uses (lapply(data, sample)) and
# rebuilds the model matrix (or shuffles the model-matrix columns for matrix moderators), then
# refits with the fit's weights / weighted / tau2. R's draws cannot be reproduced in Python: the
# fixture records the distribution (quantiles, shares of Inf and NA, prop) of a large run.
PROBS <- c(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
NSIM <- 4000
bcg8 <- DATA$bcg[1:8, ]
bcg8$x1 <- c(1, 1, 1, 0, 0, 0, 1, 0)
bcg8$x2 <- c(1, 1, 0, 0, 0, 1, 0, 0)
vif_case <- function(id, data, mods, weights = NULL, matrix_mods = FALSE, btt = NULL) {
  d <- if (data == "bcg8") bcg8 else DATA[[data]]
  args <- list(yi = d$yi, vi = d$vi, control = CTRL)
  if (matrix_mods) args$mods <- model.matrix(as.formula(mods), d)[, -1, drop = FALSE]
  else { args$mods <- as.formula(mods); args$data <- d }
  if (!is.null(weights)) args$weights <- wts(weights, d)
  fit <- do.call(rma, args)
  v <- if (is.null(btt)) vif(fit, sim = NSIM, seed = 1, progbar = FALSE)
       else vif(fit, btt = btt, sim = NSIM, seed = 1, progbar = FALSE)
  s <- v$sim
  fin <- function(x) x[is.finite(x)]
  list(id = id, data = data, mods = mods, weights = weights, matrix_mods = matrix_mods,
       btt = btt, nsim = NSIM, type = attr(s, "type"), vif = num(v$vifs), prop = num(v$prop),
       probs = PROBS,
       quantiles = lapply(seq_len(ncol(s)), function(j) num(quantile(fin(s[, j]), PROBS))),
       share_inf = num(colMeans(is.infinite(s))), share_na = num(colMeans(is.na(s))))
}
cases <- list(
  vif_case("bcg_ablat_x_year_alloc", "bcg", "~ ablat * year + alloc"),
  vif_case("bcg_ablat_year_isd", "bcg", "~ ablat + year", weights = "isd"),
  vif_case("bcg_matrix_ablat_x_year", "bcg", "~ ablat * year", matrix_mods = TRUE),
  vif_case("bcg8_x1_x_x2", "bcg8", "~ x1 * x2"),
  vif_case("bcg_alloc_group", "bcg", "~ ablat + alloc", btt = list(2, 3:4)))
write_group("vif_sim", cases, note = "vif(rma(...), sim = 4000, seed = 1): distribution summary")
