# Reference fixtures for the escalc measures added in issue 13 (tests/effects/test_escalc_more*.py).
#
# Run from the repository root:   Rscript tests/reference/escalc_more_fixtures.R
# Needs R 4 with metafor 3.8-1 / metadat, gsl (UCOR) and mvtnorm (RTET). Same JSON layout as
# escalc_fixtures.R: one file per case in tests/reference/escalc_more/ with the evsynth measure code
# and options, the inputs (null = missing), the expected yi and vi (null = NA) and `reference`:
#   "metafor::escalc" -- escalc() itself with the same measure and options;
#   "R, by formula"   -- inputs metafor 3.8-1 does not take for that measure (RPB, RBIS, D2ORL,
#                        D2ORN from Cohen's d `di` or a t statistic `ti`, as metafor >= 4.0
#                        allows): computed with escalc() after the substitution metafor itself
#                        uses for SMD (m1i = d, m2i = 0, sd1i = sd2i = 1), d = t sqrt(1/n1 + 1/n2).
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
stopifnot(requireNamespace("gsl", quietly = TRUE), requireNamespace("mvtnorm", quietly = TRUE))

out_dir <- file.path("tests", "reference", "escalc_more")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
unlink(list.files(out_dir, pattern = "\\.json$", full.names = TRUE))

write_case <- function(name, measure, inputs, options, yi, vi, reference, source) {
  x <- list(name = name, measure = measure, options = options, inputs = lapply(inputs, I),
            yi = I(as.numeric(yi)), vi = I(as.numeric(vi)), reference = reference,
            source = source, metafor_version = as.character(packageVersion("metafor")))
  if (length(options) == 0) x$options <- structure(list(), names = character(0))
  write_json(x, file.path(out_dir, paste0(name, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "null")
}

case <- function(name, measure, inputs, options = list(), source = "") {
  res <- suppressWarnings(do.call(escalc, c(list(measure = measure), inputs, options)))
  write_case(name, measure, inputs, options, res$yi, res$vi, "metafor::escalc", source)
}

# ------------------------------------------------------------------ 2x2 tables
bcg <- list(ai = dat.bcg$tpos, bi = dat.bcg$tneg, ci = dat.bcg$cpos, di = dat.bcg$cneg)
src <- "metadat::dat.bcg (Colditz et al. 1994)"
for (m in c("YUQ", "YUY", "PBIT", "OR2DN", "OR2DL", "OR2D")) case(paste0("bcg_", m), m, bcg,
                                                                   source = src)
for (vt in c("ST", "LS", "CS")) case(paste0("bcg_PHI_", vt), "PHI", bcg, list(vtype = vt), src)
case("bcg_RTET", "RTET", bcg, source = src)

zero <- list(ai = c(0, 0, 3, 10, 5, 2, 0),
             bi = c(20, 15, 7, 0, 5, 18, 10),
             ci = c(0, 4, 0, 10, 2, 1, 3),
             di = c(25, 11, 10, 0, 8, 24, 0))
src <- paste("constructed 2x2 tables: double zero (1), single zeros (2, 3, 7),",
             "all events in both groups (4), no zero (5, 6)")
for (m in c("PHI", "YUQ", "YUY", "PBIT", "OR2DN", "OR2DL")) {
  for (to in c("only0", "all", "if0all", "none")) {
    for (d00 in c(FALSE, TRUE)) {
      case(sprintf("zero_%s_%s%s", m, to, if (d00) "_drop00" else ""), m, zero,
           list(to = to, drop00 = d00), src)
    }
  }
}
case("zero_PHI_add05", "PHI", zero, list(add = 0.5), src)
case("zero_PHI_ST", "PHI", zero, list(vtype = "ST", add = 0.5), src)
case("zero_YUQ_add025", "YUQ", zero, list(add = 0.25), src)
# RTET: each table alone (metafor fits one table at a time); margins and diagonal zeros
rt <- list(ai = c(15, 30, 8, 0, 12, 20, 5, 40), bi = c(10, 12, 0, 9, 0, 20, 7, 3),
           ci = c(5, 14, 0, 11, 9, 0, 6, 2), di = c(20, 44, 9, 0, 0, 0, 9, 35))
case("rtet_tables", "RTET", rt, source = paste(
  "constructed tables: ordinary (1, 2, 7, 8), bi = ci = 0 (3: r = 1), ai = di = 0 (4: r = -1),",
  "one empty margin (5, 6: undefined)"))

# ------------------------------------------------------------------ two groups, means
nd <- list(m1i = dat.normand1999$m1i, m2i = dat.normand1999$m2i,
           sd1i = dat.normand1999$sd1i, sd2i = dat.normand1999$sd2i,
           n1i = dat.normand1999$n1i, n2i = dat.normand1999$n2i)
src <- "metadat::dat.normand1999 (Normand 1999)"
for (m in c("CVR", "VR", "D2ORN", "D2ORL", "D2OR", "RBIS", "SMD1", "SMD1H")) {
  case(paste0("normand_", m), m, nd, source = src)
}
for (vt in c("ST", "LS", "CS")) case(paste0("normand_RPB_", vt), "RPB", nd, list(vtype = vt), src)
case("normand_VR_sd_only", "VR", nd[c("sd1i", "sd2i", "n1i", "n2i")], source = src)
case("normand_SMD1_no_sd1", "SMD1", nd[c("m1i", "m2i", "sd2i", "n1i", "n2i")], source = src)
cu <- dat.curtis1998
cur <- list(m1i = cu$m1i, m2i = cu$m2i, sd1i = cu$sd1i, sd2i = cu$sd2i, n1i = cu$n1i,
            n2i = cu$n2i)
src <- "metadat::dat.curtis1998 (Curtis & Wang 1998)"
case("curtis_CVR", "CVR", cur, source = src)
case("curtis_VR", "VR", cur, source = src)
tiny <- list(m1i = c(1.2, 3.4, 0.5), m2i = c(0.8, 2.0, 0.9), sd1i = c(0.6, 1.5, 0.2),
             sd2i = c(0.9, 1.1, 0.4), n1i = c(2, 3, 2), n2i = c(2, 2, 4))
src <- "constructed tiny groups (n = 2, 3)"
for (m in c("CVR", "VR", "D2ORN", "D2ORL", "RBIS", "RPB", "SMD1", "SMD1H")) {
  case(paste0("tiny_", m), m, tiny, source = src)
}
# RBIS with a strongly unbalanced design and a large d (yi beyond 1 in metafor)
big <- list(m1i = c(10, 5, 3), m2i = c(0, 4, 2.5), sd1i = c(1, 2, 1), sd2i = c(1, 2, 1.2),
            n1i = c(5, 50, 30), n2i = c(95, 40, 31))
case("bigd_RBIS", "RBIS", big, source = "constructed: large d, unbalanced groups")
case("bigd_RPB_CS", "RPB", big, list(vtype = "CS"), "constructed: large d, unbalanced groups")

# from Cohen's d or a t statistic (metafor >= 4.0 allows this for these measures)
dt <- list(di = c(0.4, NA, -0.2, NA), ti = c(NA, 2.3, NA, -1.1), n1i = c(20, 35, 12, 60),
           n2i = c(22, 30, 15, 58))
dd <- with(dt, ifelse(is.na(di), ti * sqrt(1 / n1i + 1 / n2i), di))
for (m in c("RPB", "RBIS", "D2ORN", "D2ORL")) {
  k <- length(dd)
  res <- escalc(m, m1i = dd, m2i = rep(0, k), sd1i = rep(1, k), sd2i = rep(1, k),
                n1i = dt$n1i, n2i = dt$n2i)
  write_case(paste0("dt_", m), m, dt, list(), res$yi, res$vi, "R, by formula",
             "constructed d and t values; escalc after m1i = d, m2i = 0, sd1i = sd2i = 1")
}

# ------------------------------------------------------------------ one group: means, change
src <- "metadat::dat.normand1999 (Normand 1999), first group"
one <- list(mi = nd$m1i, sdi = nd$sd1i, ni = nd$n1i)
for (m in c("MNLN", "CVLN", "SMN")) case(paste0("normand_", m), m, one, source = src)
case("normand_SDLN", "SDLN", one[c("sdi", "ni")], source = src)
case("tiny_SDLN", "SDLN", list(sdi = c(1.2, 0.4, 3), ni = c(2, 3, 10)),
     source = "constructed tiny samples")

mT <- data.frame(m_pre = c(30.6, 23.5, 0.5, 53.4, 35.6), m_post = c(38.5, 26.8, 0.7, 75.9, 36.0),
                 sd_pre = c(15.0, 3.1, 0.1, 14.5, 4.7), sd_post = c(11.6, 4.1, 0.1, 4.4, 4.6),
                 ni = c(20, 50, 9, 10, 14), ri = c(0.47, 0.64, 0.77, 0.89, 0.44))
chg <- list(m1i = mT$m_post, m2i = mT$m_pre, sd1i = mT$sd_post, sd2i = mT$sd_pre, ni = mT$ni,
            ri = mT$ri)
src <- "illustrative pre/post data after Morris (2008), treatment arms"
for (m in c("SMCRH", "ROMC", "CVRC", "VRC")) case(paste0("morris_", m), m, chg, source = src)
chg_b <- list(m1i = mT$m_pre, m2i = mT$m_post, sd1i = mT$sd_pre, sd2i = mT$sd_post, ni = mT$ni,
              ri = -mT$ri / 2)
src <- "Morris (2008) illustrative data, groups swapped, negative correlations"
for (m in c("SMCRH", "ROMC")) case(paste0("morris_swapped_", m), m, chg_b, source = src)

# ------------------------------------------------------------------ proportions, rates
pr <- list(xi = dat.pritz1997$xi, ni = dat.pritz1997$ni)
src <- "metadat::dat.pritz1997 (Pritz 1997); includes xi = ni studies"
for (vt in c("LS", "AV")) case(paste0("pritz_PLN_", vt), "PLN", pr, list(vtype = vt), src)
pz <- list(xi = c(0, 3, 12, 20), ni = c(15, 30, 12, 41))
src <- "constructed proportions with 0 events and all events"
for (to in c("only0", "all", "if0all", "none")) {
  case(sprintf("propzero_PLN_%s", to), "PLN", pz, list(to = to), src)
}
case("propzero_PLN_AV", "PLN", pz, list(vtype = "AV"), src)

hart <- list(x1i = dat.hart1999$x1i, x2i = dat.hart1999$x2i,
             t1i = dat.hart1999$t1i, t2i = dat.hart1999$t2i)
src <- "metadat::dat.hart1999 (Hart et al. 1999)"
case("hart_IRSD", "IRSD", hart, source = src)
for (m in c("IR", "IRS", "IRFT")) {
  case(paste0("hart_", m), m, list(xi = hart$x1i, ti = hart$t1i), source = src)
}
rz <- list(x1i = c(0, 0, 3, 12), x2i = c(5, 0, 0, 7), t1i = c(100, 50, 80, 210.5),
           t2i = c(120, 60, 90, 199))
src <- "constructed counts/person-time with zero counts"
for (to in c("only0", "all", "if0all", "none")) {
  for (d00 in c(FALSE, TRUE)) {
    case(sprintf("ratezero_IRSD_%s%s", to, if (d00) "_drop00" else ""), "IRSD", rz,
         list(to = to, drop00 = d00), src)
  }
  for (m in c("IR", "IRS", "IRFT")) {
    case(sprintf("ratezero_%s_%s", m, to), m, list(xi = rz$x1i, ti = rz$t1i), list(to = to), src)
  }
}
case("ratezero_IRS_add05", "IRS", list(xi = rz$x1i, ti = rz$t1i), list(add = 0.5), src)
case("ratezero_IRSD_add05", "IRSD", rz, list(add = 0.5), src)

# ------------------------------------------------------------------ correlations
al <- list(ti = dat.aloe2013$tval, ni = dat.aloe2013$n, mi = dat.aloe2013$preds,
           r2i = dat.aloe2013$R2)
src <- "metadat::dat.aloe2013 (Aloe & Becker 2012)"
for (vt in c("LS", "AV")) {
  case(paste0("aloe_PCOR_", vt), "PCOR", al[c("ti", "ni", "mi")], list(vtype = vt), src)
  case(paste0("aloe_SPCOR_", vt), "SPCOR", al, list(vtype = vt), src)
}
case("aloe_ZPCOR", "ZPCOR", al[c("ti", "ni", "mi")], source = src)
small_pc <- list(ti = c(2.1, -0.5, 3), ni = c(5, 4, 12), mi = c(2, 2, 0), r2i = c(0.3, 0.1, 0))
case("small_PCOR", "PCOR", small_pc[c("ti", "ni", "mi")],
     source = "constructed small samples (df = ni - mi - 1 = 2, 1, 11)")
case("small_ZPCOR", "ZPCOR", small_pc[c("ti", "ni", "mi")],
     source = "constructed small samples (df = ni - mi - 1 = 2, 1, 11)")
case("small_SPCOR", "SPCOR", small_pc, source = "constructed small samples")

co <- list(ri = dat.molloy2014$ri, ni = dat.molloy2014$ni)
src <- "metadat::dat.molloy2014 (Molloy et al. 2014)"
for (vt in c("LS", "UB", "AV")) case(paste0("molloy_UCOR_", vt), "UCOR", co, list(vtype = vt), src)
cs <- list(ri = c(0.3, -0.5, 0, 0.9, 0.6, -0.95), ni = c(3, 4, 10, 2, 5, 6))
src <- "constructed small samples (UCOR undefined for ni <= 4)"
for (vt in c("LS", "UB")) case(paste0("smallcor_UCOR_", vt), "UCOR", cs, list(vtype = vt), src)

# ------------------------------------------------------------------ reliability, Hardy-Weinberg
alp <- list(ai = c(0.82, 0.75, 0.91, 0.6), mi = c(10, 5, 20, 3), ni = c(120, 45, 300, 25))
src <- "constructed Cronbach's alpha values (items mi, subjects ni)"
for (m in c("ARAW", "AHW", "ABT")) case(paste0("alpha_", m), m, alp, source = src)
hw <- list(ai = c(30, 25, 50, 0), bi = c(50, 60, 40, 20), ci = c(20, 15, 10, 5))
case("hw_REH", "REH", hw, source = "constructed genotype counts (one with no AA)")

# ------------------------------------------------------------------ paired binary (matched)
mp <- list(ai = c(20, 15, 40, 0), bi = c(10, 4, 12, 6), ci = c(5, 8, 3, 0),
           di = c(65, 30, 45, 10))
src <- "constructed paired 2x2 tables (both / first only / second only / neither)"
for (m in c("MPRD", "MPRR", "MPOR", "MPORC", "MPPETO")) case(paste0("paired_", m), m, mp,
                                                              source = src)
# MPORM: marginal tables of the two conditions (ai, bi first; ci, di second) with the
# correlation ri of the paired responses
mm <- list(ai = c(30, 12, 0, 45), bi = c(70, 38, 20, 15), ci = c(22, 9, 4, 40),
           di = c(78, 41, 16, 20), ri = c(0.4, 0.2, 0.5, 0.65))
src <- "constructed marginal tables of paired binary data with the within-pair correlation"
for (to in c("only0", "all", "none")) {
  case(paste0("marginal_MPORM_", to), "MPORM", mm, list(to = to), src)
}

cat("wrote", length(list.files(out_dir, pattern = "\\.json$")), "fixtures to", out_dir, "\n")

# ================================================================== transf (tests/effects/test_transf*)
# metafor's transf.* functions on grids that include their boundaries, and predict.rma with
# transf / targs / level. Written to tests/reference/escalc_more/transf/.
tr_dir <- file.path(out_dir, "transf")
dir.create(tr_dir, showWarnings = FALSE, recursive = TRUE)
unlink(list.files(tr_dir, pattern = "\\.json$", full.names = TRUE))
tcase <- function(fun, x, args = list(), targs = NULL) {
  f <- get(paste0("transf.", fun), envir = asNamespace("metafor"))
  val <- if (is.null(targs)) {
    sapply(x, function(xx) do.call(f, c(list(xx), args)))
  } else {
    sapply(x, function(xx) f(xx, targs = targs))
  }
  # JSON has no infinity: `inf` is the sign of an infinite value (0 otherwise)
  list(fun = fun, x = I(x), args = args, targs = targs, value = I(as.numeric(val)),
       inf = I(ifelse(is.infinite(val), sign(val), 0)))
}
grid <- c(-3, -1, -0.2, 0, 0.1, 0.5, 0.9, 1, 2.5)
props <- c(0, 1e-6, 0.05, 0.3, 0.5, 0.77, 0.999, 1)
cases <- list(
  tcase("rtoz", c(-1, -0.99, -0.3, 0, 0.5, 0.9999, 1)),
  tcase("ztor", c(-50, -3, -0.5, 0, 0.3, 2, 19, 20, 400)),
  tcase("logit", props),
  tcase("ilogit", c(-800, -40, -2, 0, 1.5, 40, 800)),
  tcase("arcsin", props),
  tcase("iarcsin", c(-0.5, 0, 0.2, 0.7, asin(1) - 1e-9, asin(1), 1.6, 3)),
  tcase("isqrt", c(-2, -1e-9, 0, 0.3, 4)),
  tcase("ahw", c(-1, 0, 0.5, 0.875, 0.99, 1)),
  tcase("iahw", c(-0.3, 0, 0.2, 0.5, 0.9, 1, 1.4)),
  tcase("abt", c(-1, 0, 0.5, 0.75, 0.99)),
  tcase("iabt", c(-0.5, 0, 0.7, 1.386294, 10)),
  tcase("dtou1", grid), tcase("dtou2", grid), tcase("dtou3", grid),
  tcase("dtocles", grid), tcase("dtobesd", grid), tcase("dtorpb", grid),
  tcase("dtomd", grid, targs = list(sd = 12.5)),
  tcase("logortord", grid, args = list(pc = 0.2)),
  tcase("logortorr", grid, args = list(pc = 0.35)),
  tcase("pft", props, args = list(ni = 20)),
  tcase("irft", c(0, 0.001, 0.02, 0.4, 3), args = list(ti = 500))
)
for (n in c(1, 5, 20, 1000)) {
  lo <- transf.pft(0, n)
  hi <- transf.pft(1, n)
  xs <- c(-0.1, 0, lo - 1e-9, lo, lo + 1e-6, 0.3, 0.7851, 1, hi - 1e-6, hi, hi + 1e-9, 1.6, 2)
  cases[[length(cases) + 1]] <- tcase("ipft", xs, args = list(ni = n))
}
ni_hm <- c(12, 40, 7, 150, NA, 33)
nh <- 1 / mean(1 / ni_hm, na.rm = TRUE)
xs <- c(-0.1, 0, transf.pft(0, nh), 0.05, 0.3, 0.785, 1.2, transf.pft(1, nh), 1.6)
cases[[length(cases) + 1]] <- tcase("ipft.hm", xs, targs = list(ni = ni_hm))
for (t in c(10, 500)) {
  lo <- transf.irft(0, t)
  xs <- c(0, lo / 2, lo, lo + 1e-6, 0.1, 0.15, 0.6, 2)
  cases[[length(cases) + 1]] <- tcase("iirft", xs, args = list(ti = t))
}
for (tg in list(list(tau2 = 0), list(tau2 = 0.05), list(tau2 = 0.6),
                list(tau2 = 0.3, lower = -2, upper = 3))) {
  cases[[length(cases) + 1]] <- tcase("exp.int", c(-2, -0.4, 0, 0.8), targs = tg)
  cases[[length(cases) + 1]] <- tcase("ilogit.int", c(-4, -0.5, 0, 2.2), targs = tg)
  cases[[length(cases) + 1]] <- tcase("ztor.int", c(-1.2, 0, 0.35, 2.5), targs = tg)
}
write_json(list(metafor_version = as.character(packageVersion("metafor")), cases = cases),
           file.path(tr_dir, "transf_functions.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null", null = "null")

# predict.rma with transf, targs and level
CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
pcase <- function(name, dat, method, transf = NULL, targs = NULL, level = 95, test = "z") {
  fit <- rma(yi, vi, data = dat, method = method, test = test, control = CTRL)
  args <- list(fit, level = level)
  if (!is.null(transf)) {
    args$transf <- if (transf == "exp") exp else get(paste0("transf.", transf),
                                                      envir = asNamespace("metafor"))
  }
  if (!is.null(targs)) args$targs <- targs
  pr <- do.call(predict, args)
  list(name = name, yi = I(as.numeric(dat$yi)), vi = I(as.numeric(dat$vi)), method = method,
       test = test, transf = transf, targs = targs, level = level, tau2 = fit$tau2,
       pred = pr$pred, se = if (is.null(pr$se)) NA else pr$se, ci_lb = pr$ci.lb,
       ci_ub = pr$ci.ub, pi_lb = pr$pi.lb, pi_ub = pr$pi.ub)
}
pft_dat <- escalc("PFT", xi = dat.pritz1997$xi, ni = dat.pritz1997$ni)
plo_dat <- escalc("PLO", xi = dat.pritz1997$xi, ni = dat.pritz1997$ni)
bcg_rr <- escalc("RR", ai = dat.bcg$tpos, bi = dat.bcg$tneg, ci = dat.bcg$cpos, di = dat.bcg$cneg)
zc <- escalc("ZCOR", ri = dat.molloy2014$ri, ni = dat.molloy2014$ni)
fit_plo <- rma(yi, vi, data = plo_dat, control = CTRL)
fit_z <- rma(yi, vi, data = zc, control = CTRL)
fit_rr <- rma(yi, vi, data = bcg_rr, control = CTRL)
pcases <- list(
  pcase("pritz_pft_ipft_hm", pft_dat, "REML", "ipft.hm", list(ni = dat.pritz1997$ni)),
  pcase("pritz_pft_ipft_hm_l90", pft_dat, "DL", "ipft.hm", list(ni = dat.pritz1997$ni), 90),
  pcase("pritz_plo_ilogit", plo_dat, "REML", "ilogit"),
  pcase("pritz_plo_ilogit_int", plo_dat, "REML", "ilogit.int", list(tau2 = fit_plo$tau2)),
  pcase("bcg_rr_exp_l90", bcg_rr, "REML", "exp", NULL, 90),
  pcase("bcg_rr_exp_int", bcg_rr, "REML", "exp.int", list(tau2 = fit_rr$tau2)),
  pcase("bcg_rr_l80_knha", bcg_rr, "REML", NULL, NULL, 80, "knha"),
  pcase("bcg_rr_l99", bcg_rr, "DL", NULL, NULL, 99),
  pcase("molloy_ztor", zc, "REML", "ztor"),
  pcase("molloy_ztor_int", zc, "REML", "ztor.int", list(tau2 = fit_z$tau2, lower = -3,
                                                          upper = 3), 90)
)
write_json(list(metafor_version = as.character(packageVersion("metafor")), cases = pcases),
           file.path(tr_dir, "predict_transf.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null", null = "null")
cat("wrote transf fixtures to", tr_dir, "\n")
