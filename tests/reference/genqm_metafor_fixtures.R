# Reference values for GENQM (DerSimonian & Kacker 2007) and the generalised-Q confidence
# interval for tau^2 (Jackson 2013) computed by metafor itself, rma(method = "GENQM") and
# confint(type = "GENQ"), which need the R package CompQuadForm (farebrother()).
# (tests/models/test_genqm_metafor.py). uni_extra_fixtures.R checks the same quantities against an
# independent Imhof integration; this script is the check against metafor's own code path.
#
# CompQuadForm is not in Debian. It is installed from its CRAN source (GitHub mirror
# cran/CompQuadForm, version as recorded in the JSON) into a private library:
#   tests/reference/install_r_packages.sh (R CMD INSTALL -l /work/R-lib CompQuadForm)
# Run from the repository root:  R_LIBS=/work/R-lib Rscript tests/reference/genqm_metafor_fixtures.R
# Reads tests/reference/data/rma_<name>.csv; writes tests/reference/uni_extra/genqm_metafor.json.

source(file.path("tests", "reference", "fixture_helpers.R"))
suppressMessages(library(CompQuadForm))

out_dir <- fixture_dir("uni_extra")
rd <- function(nm) read.csv(file.path(data_dir, paste0("rma_", nm, ".csv")))
DATA <- list(bcg = rd("bcg"), homog = rd("homog"), normand = rd("normand"))

wts <- function(spec, d) {
  switch(spec, iv01 = 1 / (d$vi + 0.1), isd = 1 / sqrt(d$vi), unit = rep(1, nrow(d)),
         n = if (!is.null(d$n1i)) d$n1i + d$n2i else 1 / sqrt(d$vi))
}

cases <- list()
for (data in names(DATA)) {
  d <- DATA[[data]]
  for (w in c("iv01", "isd", "unit")) {
    for (mods in list(NULL, "~ ablat")) {
      if (!is.null(mods) && is.null(d$ablat)) next
      args <- list(yi = d$yi, vi = d$vi, weights = wts(w, d), control = CTRL)
      if (!is.null(mods)) { args$mods <- as.formula(mods); args$data <- d }
      fit <- capture(do.call(rma, c(args, list(method = "GENQM"))))
      if (!is.null(fit$error)) next
      res <- fit$value
      genq <- capture(do.call(rma, c(args, list(method = "GENQ"))))$value
      # confint.rma.uni's GENQ bounds come from uniroot() at its default tolerance
      # (.Machine$double.eps^0.25, about 1.2e-4; metafor 3.8 confint.rma.uni.r does not pass
      # control$tol to it): record the tail probability at metafor's bounds by Imhof's formula
      # at high accuracy, which shows how far metafor's bound is from solving its equation
      ci <- capture(confint(genq, type = "GENQ"))
      ci_rows <- if (is.null(ci$value)) NULL else ci$value$random
      tail_at <- function(t2) {
        X <- if (is.null(mods)) cbind(rep(1, nrow(d))) else model.matrix(as.formula(mods), data = d)
        A <- diag(wts(w, d))
        P <- A - A %*% X %*% solve(t(X) %*% A %*% X) %*% t(X) %*% A
        Q <- c(t(d$yi) %*% P %*% d$yi)
        S <- diag(sqrt(d$vi + t2))
        lam <- eigen(S %*% P %*% S, symmetric = TRUE, only.values = TRUE)$values[seq_len(nrow(d) - ncol(X))]
        imhof(Q, lam, epsabs = 1e-13, epsrel = 1e-13, limit = 100000)$Qq
      }
      cases[[length(cases) + 1]] <- list(
        id = paste(data, w, if (is.null(mods)) "int" else "ablat", sep = "_"),
        dataset = paste0("rma_", data, ".csv"),
        args = list(weights = w, mods = mods),
        warnings = fit$warnings,
        result = list(tau2 = res$tau2, beta = num(res$beta), se = num(res$se),
                      ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), pval = num(res$pval),
                      QE = res$QE, QEp = res$QEp, I2 = res$I2, H2 = res$H2,
                      genq_tau2 = genq$tau2,
                      genq_ci = if (is.null(ci_rows)) NULL else num(ci_rows["tau^2", ]),
                      genq_ci_I2 = if (is.null(ci_rows)) NULL else num(ci_rows["I^2(%)", ]),
                      tail_at_ci = if (is.null(ci_rows) || ci_rows["tau^2", 2] <= 0) NULL else
                        c(tail_at(ci_rows["tau^2", 2]), tail_at(ci_rows["tau^2", 3]))))
    }
  }
}
x <- list(group = "genqm_metafor", metafor_version = as.character(packageVersion("metafor")),
          compquadform_version = as.character(packageVersion("CompQuadForm")),
          r_version = R.version.string,
          note = "metafor rma(method='GENQM') and confint(type='GENQ') with CompQuadForm::farebrother",
          cases = cases)
write_json(x, file.path(out_dir, "genqm_metafor.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "string", null = "null")
cat(sprintf("genqm_metafor %d cases\n", length(cases)))
