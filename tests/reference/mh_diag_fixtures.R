# Reference values for the diagnostics of Mantel-Haenszel and Peto fits
# (tests/models/test_diagnostics_mh.py): metafor's leave1out.rma.mh / leave1out.rma.peto,
# cumul.rma.mh / cumul.rma.peto, baujat.rma, ranktest, regtest and funnel.rma on rma.mh and
# rma.peto objects.
#
# Run from the repository root:  Rscript tests/reference/mh_diag_fixtures.R
# Requires R with metafor (>= 3.8), metadat and jsonlite. Reads the datasets exported by
# mh_fixtures.R (tests/reference/data/mh_<name>.csv) and writes
#   tests/reference/mh/diag_<group>.json   (groups: leave1out, cumul, baujat, ranktest, regtest,
#                                           funnel)
# The Python tests read these files only; they never need R.
#
# Each case stores the dataset, the fit (fun = meta_mh / meta_peto and its arguments, with the
# Python keyword names as in mh_fixtures.R), the diagnostic's arguments and metafor's output at
# full precision ("NA" where metafor gives NA); a case whose call fails in metafor stores the
# error message instead of a result.

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("mh")

read_ds <- function(name) read.csv(file.path(data_dir, paste0("mh_", name, ".csv")),
                                   stringsAsFactors = FALSE)

# one fit: ds = dataset name, fun = "meta_mh" / "meta_peto", measure, and the fit settings
fit_spec <- function(ds, fun = "meta_mh", measure = "OR", correct = TRUE, level = 95,
                     add = 1/2, to = "only0", drop00 = TRUE) {
  list(ds = ds, fun = fun, measure = measure, correct = correct, level = level, add = add,
       to = to, drop00 = drop00)
}

fit_model <- function(s) {
  d <- read_ds(s$ds)
  if (s$fun == "meta_peto") {
    if ("bi" %in% names(d)) {
      return(rma.peto(ai = ai, bi = bi, ci = ci, di = di, data = d, level = s$level,
                      add = s$add, to = s$to, drop00 = s$drop00, slab = study))
    }
    return(rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, level = s$level,
                    add = s$add, to = s$to, drop00 = s$drop00, slab = study))
  }
  if (s$measure %in% c("IRR", "IRD")) {
    return(rma.mh(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = d, measure = s$measure,
                  correct = s$correct, level = s$level, add = s$add, to = s$to,
                  drop00 = s$drop00, slab = study))
  }
  if ("bi" %in% names(d)) {
    return(rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = d, measure = s$measure,
                  correct = s$correct, level = s$level, add = s$add, to = s$to,
                  drop00 = s$drop00, slab = study))
  }
  rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, measure = s$measure,
         correct = s$correct, level = s$level, add = s$add, to = s$to, drop00 = s$drop00,
         slab = study)
}

# the fit part of a case (Python keyword names; add/to/drop00 as lists as in mh_fixtures.R)
case_head <- function(s) {
  list(dataset = paste0("mh_", s$ds, ".csv"), fun = s$fun,
       args = list(measure = if (s$fun == "meta_peto") NULL else s$measure,
                   correct = s$correct, level = s$level, add = as.list(s$add),
                   to = as.list(s$to), drop00 = as.list(s$drop00)))
}

list_rma <- function(x) {
  list(slab = as.character(x$slab), estimate = num(x$estimate), se = num(x$se),
       zval = num(x$zval), pval = num(x$pval), ci_lb = num(x$ci.lb), ci_ub = num(x$ci.ub),
       QE = num(x$Q), QEp = num(x$Qp), I2 = num(x$I2), H2 = num(x$H2))
}

run_case <- function(s, diag, call, extra = list(), result_of) {
  res <- suppressWarnings(fit_model(s))
  got <- capture(call(res))
  case <- c(case_head(s), list(diagnostic = diag), extra)
  if (is.null(got$error)) case$result <- result_of(got$value, res) else case$error <- got$error
  case
}

# ---- the fits -----------------------------------------------------------------------------------
fits <- list()
for (ds in c("bcg", "yusuf6", "yusuf9", "collins", "egger", "edge", "edge2")) {
  for (m in c("OR", "RR", "RD")) fits[[paste(ds, m, sep = "_")]] <- fit_spec(ds, measure = m)
  fits[[paste0(ds, "_PETO")]] <- fit_spec(ds, fun = "meta_peto", measure = "PETO")
}
fits$edge1_OR <- fit_spec("edge1", measure = "OR")
fits$edge1_PETO <- fit_spec("edge1", fun = "meta_peto", measure = "PETO")
fits$bcg_OR_nocorrect <- fit_spec("bcg", measure = "OR", correct = FALSE)
fits$bcg_OR_level90 <- fit_spec("bcg", measure = "OR", level = 90)
fits$bcg_PETO_level90 <- fit_spec("bcg", fun = "meta_peto", measure = "PETO", level = 90)
fits$edge_OR_toall <- fit_spec("edge", measure = "OR", to = "all")
fits$edge_RR_keep00 <- fit_spec("edge", measure = "RR", drop00 = FALSE)
fits$edge_OR_add2 <- fit_spec("edge", measure = "OR", add = c(1/2, 1/2), to = c("only0", "only0"))
fits$edge_RD_drop2 <- fit_spec("edge", measure = "RD", drop00 = c(TRUE, TRUE))
fits$yusuf9_OR_if0all <- fit_spec("yusuf9", measure = "OR", to = "if0all", add = 1/4)
fits$yusuf9_PETO_drop2 <- fit_spec("yusuf9", fun = "meta_peto", measure = "PETO",
                                   drop00 = c(TRUE, TRUE))
fits$edge_PETO_keep00 <- fit_spec("edge", fun = "meta_peto", measure = "PETO", drop00 = FALSE)
fits$nielweise_IRR <- fit_spec("nielweise", measure = "IRR")
fits$nielweise_IRR_nocorrect <- fit_spec("nielweise", measure = "IRR", correct = FALSE)
fits$nielweise_IRD <- fit_spec("nielweise", measure = "IRD")

ratio <- function(s) s$fun == "meta_peto" || s$measure %in% c("OR", "RR", "IRR")

# a sort key for cumul: total sample size (person-time for rates), with ties broken by R's
# stable order()
size_key <- function(s) {
  d <- read_ds(s$ds)
  if ("t1i" %in% names(d)) return(d$t1i + d$t2i)
  if ("bi" %in% names(d)) return(d$ai + d$bi + d$ci + d$di)
  d$n1i + d$n2i
}

# ---- leave1out ------------------------------------------------------------------------------------
cases <- list()
for (nm in names(fits)) {
  s <- fits[[nm]]
  cases[[length(cases) + 1]] <- run_case(s, "leave1out", function(r) leave1out(r),
                                         list(name = nm, transf = FALSE),
                                         function(x, r) list_rma(x))
  if (ratio(s)) {
    cases[[length(cases) + 1]] <- run_case(s, "leave1out", function(r) leave1out(r, transf = TRUE),
                                           list(name = nm, transf = TRUE),
                                           function(x, r) list_rma(x))
  }
}
write_group("diag_leave1out", cases,
            "leave1out.rma.mh / leave1out.rma.peto; transf = TRUE is exp for ratio measures")

# ---- cumul ----------------------------------------------------------------------------------------
cases <- list()
for (nm in names(fits)) {
  s <- fits[[nm]]
  cases[[length(cases) + 1]] <- run_case(s, "cumul", function(r) cumul(r),
                                         list(name = nm, order = NULL, decreasing = FALSE,
                                              transf = FALSE),
                                         function(x, r) list_rma(x))
  key <- size_key(s)
  cases[[length(cases) + 1]] <- run_case(s, "cumul", function(r) cumul(r, order = key),
                                         list(name = nm, order = key, decreasing = FALSE,
                                              transf = FALSE),
                                         function(x, r) list_rma(x))
  cases[[length(cases) + 1]] <- run_case(s, "cumul",
                                         function(r) cumul(r, order = key, decreasing = TRUE,
                                                           transf = ratio(s)),
                                         list(name = nm, order = key, decreasing = TRUE,
                                              transf = ratio(s)),
                                         function(x, r) list_rma(x))
}
write_group("diag_cumul", cases,
            "cumul.rma.mh / cumul.rma.peto; order = total sample size (person-time for rates)")

# ---- baujat -------------------------------------------------------------------------------------
pdf(NULL)
cases <- list()
for (nm in names(fits)) {
  s <- fits[[nm]]
  cases[[length(cases) + 1]] <- run_case(s, "baujat", function(r) baujat(r), list(name = nm),
                                         function(x, r) list(slab = as.character(x$slab),
                                                             x = num(x$x), y = num(x$y)))
}
write_group("diag_baujat", cases, "baujat.rma on rma.mh / rma.peto fits")

# ---- ranktest -----------------------------------------------------------------------------------
cases <- list()
for (nm in names(fits)) {
  s <- fits[[nm]]
  cases[[length(cases) + 1]] <- run_case(s, "ranktest", function(r) ranktest(r),
                                         list(name = nm),
                                         function(x, r) list(tau = num(x$tau),
                                                             pval = num(x$pval)))
}
write_group("diag_ranktest", cases, "ranktest on rma.mh / rma.peto fits (their yi, vi)")

# ---- regtest ------------------------------------------------------------------------------------
regs <- list(c("rma", "sei"), c("lm", "sei"), c("rma", "vi"), c("lm", "ninv"),
             c("rma", "sqrtninv"))
cases <- list()
for (nm in names(fits)) {
  s <- fits[[nm]]
  for (mp in regs) {
    cases[[length(cases) + 1]] <- run_case(
      s, "regtest", function(r) regtest(r, model = mp[1], predictor = mp[2]),
      list(name = nm, model = mp[1], predictor = mp[2]),
      function(x, r) list(zval = num(x$zval), pval = num(x$pval), dfs = num(x$dfs),
                          est = num(x$est), ci_lb = num(x$ci.lb), ci_ub = num(x$ci.ub)))
  }
}
write_group("diag_regtest", cases,
            "regtest on rma.mh / rma.peto fits: an FE model of their yi, vi (ni = metafor's ni)")

# ---- funnel -------------------------------------------------------------------------------------
cases <- list()
for (nm in names(fits)) {
  s <- fits[[nm]]
  cases[[length(cases) + 1]] <- run_case(s, "funnel", function(r) funnel(r), list(name = nm),
                                         function(x, r) list(x = num(x$x), y = num(x$y),
                                                             slab = as.character(x$slab),
                                                             refline = num(r$beta),
                                                             level = 100 * (1 - r$level)))
}
write_group("diag_funnel", cases, "funnel.rma on rma.mh / rma.peto fits: the points drawn")
invisible(dev.off())
