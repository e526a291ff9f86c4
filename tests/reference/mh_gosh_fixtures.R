# Reference values for gosh() on Mantel-Haenszel and Peto fits (metafor gosh.rma for rma.mh and
# rma.peto; tests/models/test_mh_gosh.py).
#
# Data: the first 8 trials of metadat's dat.nielweise2007 (catheter-related bloodstream
# infections; zero cells) plus one invented double-zero trial, so that drop00 and zero-cell
# corrections enter; and the first 8 trials of dat.bcg (no zero cells). Every case's data and
# settings are written into its JSON.
#
# Run from the repository root:  Rscript tests/reference/mh_gosh_fixtures.R
# Writes tests/reference/mh_gosh/gosh_<case>.json.

suppressMessages(library(metafor))
library(jsonlite)
out_dir <- file.path("tests", "reference", "mh_gosh")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

nw <- dat.nielweise2007[1:8, ]
zero <- data.frame(ai = c(nw$ai, 0), n1i = c(nw$n1i, 50), ci = c(nw$ci, 0), n2i = c(nw$n2i, 60),
                   study = c(paste(nw$author, nw$year), "Double zero 2000"))
zero$bi <- zero$n1i - zero$ai
zero$di <- zero$n2i - zero$ci
bcg <- dat.bcg[1:8, ]
bcgd <- data.frame(ai = bcg$tpos, bi = bcg$tneg, ci = bcg$cpos, di = bcg$cneg,
                   study = paste(bcg$author, bcg$year))

run <- function(name, d, fit) {
  g <- gosh(fit, progbar = FALSE)
  res <- g$res
  x <- list(case = name, metafor_version = as.character(packageVersion("metafor")),
            r_version = R.version.string,
            data = list(ai = d$ai, bi = d$bi, ci = d$ci, di = d$di, study = d$study),
            method = if (inherits(fit, "rma.peto")) "PETO" else "MH", measure = fit$measure,
            k = fit$k, exact = TRUE,
            incl = unname(lapply(seq_len(nrow(g$incl)), function(i) as.integer(g$incl[i, ]))),
            res = list(k = res$k, QE = res$QE, I2 = res$I2, H2 = res$H2, tau2 = res$tau2,
                       estimate = res$estimate),
            fit = unname(g$fit))
  write_json(x, file.path(out_dir, paste0("gosh_", name, ".json")), digits = NA,
             auto_unbox = TRUE, na = "null", null = "null")
  cat(sprintf("%-16s %4d subsets, %d not fitted\n", name, nrow(res), sum(!g$fit)))
}

run("zero_OR", zero, rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = zero, measure = "OR"))
run("zero_RR", zero, rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = zero, measure = "RR"))
run("zero_RD", zero, rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = zero, measure = "RD"))
run("zero_PETO", zero, rma.peto(ai = ai, bi = bi, ci = ci, di = di, data = zero))
run("bcg_OR", bcgd, rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = bcgd, measure = "OR"))
