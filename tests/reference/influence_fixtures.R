# Reference values for the influence and sensitivity methods (tests/models/test_influence.py):
# metafor's leave1out, cumul, influence, gosh (every subset) and exact permutest.
#
# Run from the repository root:  Rscript tests/reference/influence_fixtures.R
# Requires R with metafor (>= 3.8), metadat and jsonlite. Reads the datasets already exported by
# rma_fixtures.R (tests/reference/data/rma_<name>.csv) and writes one more
# (tests/reference/data/infl_egger.csv, log odds ratios of dat.egger2001), then
#   tests/reference/influence/<group>.json
# The Python tests read these files only; they never need R.
#
# Every fit uses control = list(threshold = 1e-12, tol = 1e-12, maxiter = 1000). Each case stores
# the dataset, the rows used (1-based, or null for all), the model arguments (method, test,
# moderators as a formula of dataset columns) and metafor's output at full precision.

suppressMessages(library(metafor))
library(jsonlite)

out_dir <- file.path("tests", "reference", "influence")
data_dir <- file.path("tests", "reference", "data")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)

num <- function(x) unname(as.numeric(x))

write_group <- function(name, cases) {
  x <- list(group = name, metafor_version = as.character(packageVersion("metafor")),
            r_version = R.version.string, cases = cases)
  write_json(x, file.path(out_dir, paste0(name, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "string", null = "null")
  cat(sprintf("%-12s %4d cases\n", name, length(cases)))
}

# ---- datasets -----------------------------------------------------------------------------------
egg <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)
write.csv(data.frame(study = paste(egg$study, egg$year), yi = as.numeric(egg$yi),
                     vi = as.numeric(egg$vi)),
          file.path(data_dir, "infl_egger.csv"), row.names = FALSE)

files <- c(bcg = "rma_bcg.csv", hackshaw = "rma_hackshaw.csv", hine = "rma_hine.csv",
           egger = "infl_egger.csv", raudenbush = "rma_raudenbush.csv")
data <- lapply(files, function(f) read.csv(file.path(data_dir, f), stringsAsFactors = FALSE))

# fit a model; rows = 1-based subset of the dataset (NULL = all); mods = formula string or NULL
fit <- function(ds, rows = NULL, method = "REML", test = "z", mods = NULL) {
  d <- data[[ds]]
  if (!is.null(rows)) d <- d[rows, , drop = FALSE]
  if (is.null(mods)) {
    rma(yi, vi, data = d, method = method, test = test, control = CTRL)
  } else {
    rma(yi, vi, mods = as.formula(paste("~", mods)), data = d, method = method, test = test,
        control = CTRL)
  }
}

spec <- function(ds, rows, method, test, mods) {
  list(dataset = files[[ds]], rows = if (is.null(rows)) NULL else as.integer(rows),
       method = method, test = test, mods = mods)
}

pdf(NULL)  # baujat() draws; no plot file is wanted

# ---- leave1out ----------------------------------------------------------------------------------
l1o_fields <- function(l) {
  z <- if (!is.null(l$zval)) l$zval else l$tval
  tau2 <- if (!is.null(l$tau2)) l$tau2 else rep(0, length(l$estimate))
  list(estimate = num(l$estimate), se = num(l$se), zval = num(z), pval = num(l$pval),
       ci_lb = num(l$ci.lb), ci_ub = num(l$ci.ub), Q = num(l$Q), Qp = num(l$Qp),
       tau2 = num(tau2), I2 = num(l$I2), H2 = num(l$H2))
}

l1o_specs <- list(
  list("bcg", NULL, "REML", "z"), list("bcg", NULL, "DL", "z"), list("bcg", NULL, "EE", "z"),
  list("bcg", NULL, "PM", "knha"), list("bcg", NULL, "ML", "t"), list("bcg", NULL, "HE", "adhoc"),
  list("hackshaw", NULL, "REML", "z"), list("hine", NULL, "DL", "z"),
  list("egger", NULL, "REML", "knha"), list("bcg", 1:2, "REML", "t"),
  list("raudenbush", NULL, "SJ", "z"))
cases <- list()
for (s in l1o_specs) {
  r <- fit(s[[1]], s[[2]], s[[3]], s[[4]])
  cases[[length(cases) + 1]] <- c(spec(s[[1]], s[[2]], s[[3]], s[[4]], NULL),
                                  list(result = l1o_fields(leave1out(r))))
}
write_group("leave1out", cases)

# ---- cumul --------------------------------------------------------------------------------------
cumul_fields <- function(cm) {
  out <- l1o_fields(c(cm, list(pval = cm$pvals)))
  out
}
cases <- list()
cumul_specs <- list(
  list("bcg", "REML", "z", NULL), list("bcg", "REML", "z", "year"),
  list("bcg", "DL", "knha", "ablat"), list("bcg", "EE", "z", NULL),
  list("hackshaw", "REML", "z", "yi"), list("egger", "REML", "t", NULL),
  list("hine", "PM", "z", "vi"))
for (s in cumul_specs) {
  r <- fit(s[[1]], NULL, s[[2]], s[[3]])
  d <- data[[s[[1]]]]
  cm <- if (is.null(s[[4]])) cumul(r) else cumul(r, order = d[[s[[4]]]])
  cases[[length(cases) + 1]] <- c(spec(s[[1]], NULL, s[[2]], s[[3]], NULL),
                                  list(order = s[[4]], slab_order = as.character(cm$slab),
                                       result = cumul_fields(cm)))
}
write_group("cumul", cases)

# ---- influence ----------------------------------------------------------------------------------
infl_fields <- function(inf) {
  db <- unclass(inf$dfbs)
  dfbs <- lapply(db[setdiff(names(db), c("slab", "digits"))], num)
  list(rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
       cook_d = num(inf$inf$cook.d), cov_r = num(inf$inf$cov.r),
       tau2_del = num(inf$inf$tau2.del), QE_del = num(inf$inf$QE.del), hat = num(inf$inf$hat),
       weight = num(inf$inf$weight), dfbetas = unname(dfbs), dfbetas_names = names(dfbs),
       is_infl = as.logical(inf$is.infl))
}
infl_specs <- list(
  list("bcg", NULL, "REML", "z", NULL), list("bcg", NULL, "DL", "knha", NULL),
  list("bcg", NULL, "EE", "z", NULL), list("bcg", NULL, "REML", "z", "ablat"),
  list("bcg", NULL, "ML", "knha", "ablat + year"), list("bcg", NULL, "REML", "z", "alloc"),
  list("hackshaw", NULL, "REML", "z", NULL), list("hine", NULL, "REML", "z", NULL),
  list("egger", NULL, "REML", "t", NULL), list("raudenbush", NULL, "REML", "z", "weeks"),
  list("bcg", 1:2, "REML", "t", NULL))
cases <- list()
for (s in infl_specs) {
  r <- fit(s[[1]], s[[2]], s[[3]], s[[4]], s[[5]])
  b <- baujat(r)  # drawn on the null device opened below; returns the coordinates
  cases[[length(cases) + 1]] <- c(spec(s[[1]], s[[2]], s[[3]], s[[4]], s[[5]]),
                                  list(result = infl_fields(influence(r)),
                                       baujat = list(x = num(b$x), y = num(b$y))))
}
write_group("influence", cases)

# ---- gosh (every subset, small k) -----------------------------------------------------------------
gosh_fields <- function(g) {
  res <- g$res
  beta_cols <- setdiff(names(res), c("k", "QE", "I2", "H2", "tau2"))
  incl <- unname(g$incl) * 1L
  list(k = num(res$k), QE = num(res$QE), I2 = num(res$I2), H2 = num(res$H2),
       tau2 = num(res$tau2), beta = unname(lapply(res[beta_cols], num)), beta_names = beta_cols,
       incl = lapply(seq_len(nrow(incl)), function(i) as.integer(incl[i, ])))
}
gosh_specs <- list(
  list("bcg", 1:8, "REML", "z", NULL), list("bcg", 1:8, "DL", "z", NULL),
  list("bcg", 1:8, "EE", "z", NULL), list("hine", NULL, "PM", "z", NULL),
  list("bcg", 1:8, "REML", "z", "ablat"), list("egger", 1:7, "ML", "knha", NULL),
  list("bcg", 1:7, "EE", "z", "ablat"))
cases <- list()
for (s in gosh_specs) {
  r <- fit(s[[1]], s[[2]], s[[3]], s[[4]], s[[5]])
  g <- gosh(r, progbar = FALSE)
  cases[[length(cases) + 1]] <- c(spec(s[[1]], s[[2]], s[[3]], s[[4]], s[[5]]),
                                  list(result = gosh_fields(g)))
}
write_group("gosh", cases)

# ---- exact permutation tests ------------------------------------------------------------------------
perm_fields <- function(pt) {
  list(pval = num(pt$pval), QMp = num(pt$QMp), QM = num(pt$QM), beta = num(pt$beta),
       zval = num(pt$zval), exact_iter = num(pt$exact.iter), n_perm = length(pt$QM.perm))
}
perm_specs <- list(
  list("hine", NULL, "REML", "z", NULL, 1000), list("bcg", 1:9, "DL", "knha", NULL, 1000),
  list("bcg", 1:8, "EE", "z", NULL, 1000), list("egger", 1:10, "REML", "z", NULL, 1024),
  list("bcg", 1:6, "REML", "z", "ablat", 1000), list("bcg", 1:7, "DL", "knha", "ablat", 5040),
  list("bcg", 1:8, "REML", "z", "alloc", 1000), list("bcg", 1:7, "ML", "t", "ablat + year", 5040))
cases <- list()
for (s in perm_specs) {
  r <- fit(s[[1]], s[[2]], s[[3]], s[[4]], s[[5]])
  pt <- permutest(r, iter = s[[6]], progbar = FALSE)
  cases[[length(cases) + 1]] <- c(spec(s[[1]], s[[2]], s[[3]], s[[4]], s[[5]]),
                                  list(iter = s[[6]], result = perm_fields(pt)))
}
write_group("permutest", cases)

# ---- metafor's ML fits at the boundary in the exact permutation test -------------------------------
# For bcg rows 1-7, ~ ablat + year, ML, test "t", metafor's Fisher scoring stops at tau^2 = 0 on some
# permutations although an interior maximum has a higher likelihood, which shifts its permutation
# p-values by a few permutations. Recorded here: every permutation (metafor's own enumeration) whose
# metafor fit is at tau^2 = 0, with the permuted moderators and metafor's log-likelihood, so the
# Python test can show which of them are not maxima of the likelihood.
d <- data$bcg[1:7, ]
r <- rma(yi, vi, mods = ~ ablat + year, data = d, method = "ML", test = "t", control = CTRL)
X <- as.data.frame(r$X)[do.call(order, as.data.frame(r$X)), ]
X.indices <- cumsum(c(TRUE, !duplicated(X)[-1]))
X.indices <- rep(cumsum(rle(X.indices)$lengths) - (rle(X.indices)$lengths - 1),
                 rle(X.indices)$lengths)
pm <- metafor:::.genuperms(X.indices)
boundary <- list()
for (i in seq_len(nrow(pm))) {
  Xi <- as.matrix(X[pm[i, ], ])
  f <- suppressWarnings(rma(d$yi, d$vi, mods = Xi, intercept = FALSE, method = "ML", test = "t",
                            control = CTRL))
  if (f$tau2 == 0) {
    boundary[[length(boundary) + 1]] <- list(ablat = num(Xi[, 2]), year = num(Xi[, 3]),
                                             ll = as.numeric(logLik(f)))
  }
}
write_group("permutest_boundary",
            list(c(spec("bcg", 1:7, "ML", "t", "ablat + year"),
                   list(n_perm = nrow(pm), boundary = boundary))))
