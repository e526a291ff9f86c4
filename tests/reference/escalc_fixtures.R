# Reference fixtures for evsynth.effect_size (tests/effects/test_escalc*.py).
#
# Run from the repository root:   Rscript tests/reference/escalc_fixtures.R
# Written with R 4 and metafor 3.8-1 / metadat. Every case is one JSON file in
# tests/reference/escalc/ holding: the evsynth measure code and options, the input columns
# (inline; null = missing), the expected yi and vi (null = NA), and `reference`, which says how the
# numbers were produced:
#   "metafor::escalc"  -- escalc() itself with the same measure and options;
#   "R, by formula"    -- measures/options metafor 3.8-1 lacks (RevMan 5 SMD variance,
#                         correct = FALSE, two-group SMD of change scores, generic inverse
#                         variance from a CI or P value), computed in R from the published formula
#                         (cited in `source`), using escalc() for the parts it has.
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference", "escalc")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
unlink(list.files(out_dir, pattern = "\\.json$", full.names = TRUE))

write_case <- function(name, measure, inputs, options, yi, vi, reference, source) {
  x <- list(name = name, measure = measure, options = options, inputs = inputs,
            yi = as.numeric(yi), vi = as.numeric(vi), reference = reference, source = source,
            metafor_version = as.character(packageVersion("metafor")))
  if (length(options) == 0) x$options <- structure(list(), names = character(0))
  write_json(x, file.path(out_dir, paste0(name, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "null")
}

# escalc() with the same measure/options as evsynth
case <- function(name, measure, inputs, options = list(), source = "") {
  res <- suppressWarnings(do.call(escalc, c(list(measure = measure), inputs, options)))
  write_case(name, measure, inputs, options, res$yi, res$vi, "metafor::escalc", source)
}

# ------------------------------------------------------------------ 2x2 tables: dat.bcg
bcg <- list(ai = dat.bcg$tpos, bi = dat.bcg$tneg, ci = dat.bcg$cpos, di = dat.bcg$cneg)
src <- "metadat::dat.bcg (Colditz et al. 1994)"
for (m in c("OR", "RR", "PETO", "AS")) case(paste0("bcg_", m), m, bcg, source = src)
for (vt in c("LS", "UB", "AV")) case(paste0("bcg_RD_", vt), "RD", bcg, list(vtype = vt), src)
case("bcg_OR_n1i_n2i", "OR", list(ai = dat.bcg$tpos, n1i = dat.bcg$tpos + dat.bcg$tneg,
                                  ci = dat.bcg$cpos, n2i = dat.bcg$cpos + dat.bcg$cneg),
     source = src)
case("bcg_RR_if0all_nozero", "RR", bcg, list(to = "if0all"), src)

# missing value: metafor returns NA for that study
bcg_na <- bcg
bcg_na$ci[3] <- NA
case("bcg_OR_missing", "OR", bcg_na, source = paste(src, "with ci[3] set to NA"))

# ------------------------------------------------------------------ 2x2 zero-cell edge cases
zero <- list(ai = c(0, 0, 3, 10, 5, 2, 0),
             bi = c(20, 15, 7, 0, 5, 18, 10),
             ci = c(0, 4, 0, 10, 2, 1, 3),
             di = c(25, 11, 10, 0, 8, 24, 0))
src <- paste("constructed 2x2 tables: double zero (1), single zeros (2, 3, 7),",
             "all events in both groups (4), no zero (5, 6)")
for (m in c("OR", "RR", "RD", "PETO", "AS")) {
  for (to in c("only0", "all", "if0all", "none")) {
    for (d00 in c(FALSE, TRUE)) {
      case(sprintf("zero_%s_%s%s", m, to, if (d00) "_drop00" else ""), m, zero,
           list(to = to, drop00 = d00), src)
    }
  }
}
case("zero_OR_add025", "OR", zero, list(add = 0.25), src)
case("zero_RR_add1_all", "RR", zero, list(add = 1, to = "all"), src)
case("zero_AS_add05", "AS", zero, list(add = 0.5), src)
for (vt in c("UB", "AV")) case(paste0("zero_RD_", vt), "RD", zero, list(vtype = vt), src)

# RevMan 5 zero-cell rule (Deeks & Higgins 2010; Cochrane Handbook 10.4.4): 0.5 added to all cells
# of studies with a zero cell; OR/RR not estimable (excluded) when both groups have no events or
# only events; RD keeps such studies; Peto's method uses no correction.
revman <- function(m, inp) {
  opts <- if (m == "PETO") list(to = "none") else list(add = 0.5, to = "only0")
  res <- suppressWarnings(do.call(escalc, c(list(measure = m), inp, opts)))
  yi <- res$yi
  vi <- res$vi
  if (m %in% c("OR", "RR")) {
    dz <- with(inp, (ai == 0 & ci == 0) | (bi == 0 & di == 0))
    yi[dz] <- NA
    vi[dz] <- NA
  }
  list(yi = yi, vi = vi)
}
for (m in c("OR", "RR", "RD", "PETO")) {
  r <- revman(m, zero)
  write_case(paste0("zero_", m, "_revman"), m, zero, list(to = "revman"), r$yi, r$vi,
             "R, by formula", paste(src, "; RevMan 5 zero-cell rule via metafor::escalc"))
  r <- revman(m, bcg)
  write_case(paste0("bcg_", m, "_revman"), m, bcg, list(to = "revman"), r$yi, r$vi,
             "R, by formula", "metadat::dat.bcg; RevMan 5 zero-cell rule via metafor::escalc")
}

# ------------------------------------------------------------------ rates: dat.hart1999
hart <- list(x1i = dat.hart1999$x1i, x2i = dat.hart1999$x2i,
             t1i = dat.hart1999$t1i, t2i = dat.hart1999$t2i)
src <- "metadat::dat.hart1999 (Hart et al. 1999)"
case("hart_IRR", "IRR", hart, source = src)
case("hart_IRD", "IRD", hart, source = src)
case("hart_IRLN", "IRLN", list(xi = dat.hart1999$x1i, ti = dat.hart1999$t1i), source = src)
rz <- list(x1i = c(0, 0, 3, 12), x2i = c(5, 0, 0, 7), t1i = c(100, 50, 80, 210.5),
           t2i = c(120, 60, 90, 199))
src <- "constructed counts/person-time with zero counts"
for (to in c("only0", "all", "if0all", "none")) {
  for (d00 in c(FALSE, TRUE)) {
    for (m in c("IRR", "IRD")) {
      case(sprintf("ratezero_%s_%s%s", m, to, if (d00) "_drop00" else ""), m, rz,
           list(to = to, drop00 = d00), src)
    }
  }
  case(sprintf("ratezero_IRLN_%s", to), "IRLN", list(xi = rz$x1i, ti = rz$t1i), list(to = to),
       src)
}

# ------------------------------------------------------------------ proportions: dat.pritz1997
pr <- list(xi = dat.pritz1997$xi, ni = dat.pritz1997$ni)
src <- "metadat::dat.pritz1997 (Pritz 1997); includes xi = ni studies"
for (vt in c("LS", "UB", "AV")) case(paste0("pritz_PR_", vt), "PR", pr, list(vtype = vt), src)
for (vt in c("LS", "AV")) case(paste0("pritz_PLO_", vt), "PLO", pr, list(vtype = vt), src)
case("pritz_PAS", "PAS", pr, source = src)
case("pritz_PFT", "PFT", pr, source = src)
case("pritz_PLO_mi", "PLO", list(xi = dat.pritz1997$xi, mi = dat.pritz1997$ni - dat.pritz1997$xi),
     source = src)
pz <- list(xi = c(0, 3, 12, 20), ni = c(15, 30, 12, 41))
src <- "constructed proportions with 0 events and all events"
for (to in c("only0", "all", "if0all", "none")) {
  case(sprintf("propzero_PLO_%s", to), "PLO", pz, list(to = to), src)
  case(sprintf("propzero_PR_%s", to), "PR", pz, list(to = to), src)
}
case("propzero_PAS_add05", "PAS", pz, list(add = 0.5), src)
case("propzero_PFT", "PFT", pz, source = src)

# ------------------------------------------------------------------ two-group means: dat.normand1999
nd <- list(m1i = dat.normand1999$m1i, m2i = dat.normand1999$m2i,
           sd1i = dat.normand1999$sd1i, sd2i = dat.normand1999$sd2i,
           n1i = dat.normand1999$n1i, n2i = dat.normand1999$n2i)
src <- "metadat::dat.normand1999 (Normand 1999)"
for (vt in c("LS", "UB", "HO")) case(paste0("normand_MD_", vt), "MD", nd, list(vtype = vt), src)
for (vt in c("LS", "UB", "LS2", "AV")) {
  case(paste0("normand_SMD_", vt), "SMD", nd, list(vtype = vt), src)
}
case("normand_SMDH", "SMDH", nd, source = src)
# SMD from Cohen's d or a t statistic for some studies (metafor replaces m1i, m2i, sd1i, sd2i)
nd_dt <- nd
nd_dt$di <- c(NA, 0.25, NA, NA, -0.4, NA, NA, NA, NA)
nd_dt$ti <- c(NA, NA, -2.1, NA, 1.3, NA, NA, NA, NA)
for (v in c("m1i", "m2i", "sd1i", "sd2i")) nd_dt[[v]][c(2, 3, 5)] <- NA
case("normand_SMD_di_ti", "SMD", nd_dt, source = paste(src, "with d or t for studies 2, 3, 5"))
case("dt_only_SMD", "SMD", list(ti = c(2.5, -1.2, 0.4), n1i = c(15, 40, 8), n2i = c(14, 38, 9)),
     list(vtype = "UB"), "constructed t statistics")
for (vt in c("LS", "HO", "AV", "AVHO")) {
  case(paste0("normand_ROM_", vt), "ROM", nd, list(vtype = vt), src)
}
case("normand_MN", "MN", list(mi = nd$m1i, sdi = nd$sd1i, ni = nd$n1i), source = src)

tiny <- list(m1i = c(1.2, 3.4, 0.5), m2i = c(0.8, 2.0, 0.9), sd1i = c(0.6, 1.5, 0.2),
             sd2i = c(0.9, 1.1, 0.4), n1i = c(2, 3, 2), n2i = c(2, 2, 4))
src <- "constructed tiny groups (n = 2, 3)"
for (vt in c("LS", "UB", "LS2", "AV")) {
  case(paste0("tiny_SMD_", vt), "SMD", tiny, list(vtype = vt), src)
}
case("tiny_SMDH", "SMDH", tiny, source = src)
case("tiny_MD_HO", "MD", tiny, list(vtype = "HO"), src)

# SMD with RevMan 5's approximate correction and variance (Deeks & Higgins 2010)
rm5 <- function(inp) {
  with(inp, {
    N <- n1i + n2i
    sp <- sqrt(((n1i - 1) * sd1i^2 + (n2i - 1) * sd2i^2) / (N - 2))
    g <- (m1i - m2i) / sp * (1 - 3 / (4 * N - 9))
    list(yi = g, vi = N / (n1i * n2i) + g^2 / (2 * (N - 3.94)))
  })
}
src_rm5 <- paste("RevMan 5: g = d (1 - 3/(4N - 9)), var = N/(n1 n2) + g^2/(2(N - 3.94))",
                 "(Deeks & Higgins 2010, Statistical algorithms in Review Manager 5)")
r <- rm5(nd)
write_case("normand_SMD_RM5", "SMD", nd, list(vtype = "RM5"), r$yi, r$vi, "R, by formula",
           paste("dat.normand1999;", src_rm5))
r <- rm5(tiny)
write_case("tiny_SMD_RM5", "SMD", tiny, list(vtype = "RM5"), r$yi, r$vi, "R, by formula",
           paste("tiny groups;", src_rm5))

# correct = FALSE: Cohen's d with variance 1/n1 + 1/n2 + d^2/(2N) (metafor >= 4 correct=FALSE)
d_unc <- with(nd, {
  sp <- sqrt(((n1i - 1) * sd1i^2 + (n2i - 1) * sd2i^2) / (n1i + n2i - 2))
  d <- (m1i - m2i) / sp
  list(yi = d, vi = 1 / n1i + 1 / n2i + d^2 / (2 * (n1i + n2i)))
})
write_case("normand_SMD_uncorrected", "SMD", nd, list(correct = FALSE), d_unc$yi, d_unc$vi,
           "R, by formula", "dat.normand1999; Cohen's d, Hedges & Olkin (1985) variance")

# ------------------------------------------------------------------ change scores
# Illustrative pre/post data after Morris (2008, Organ Res Methods 11:364), treatment (T) and
# control (C) arms of five studies, with the pre-post correlation ri.
mT <- data.frame(m_pre = c(30.6, 23.5, 0.5, 53.4, 35.6), m_post = c(38.5, 26.8, 0.7, 75.9, 36.0),
                 sd_pre = c(15.0, 3.1, 0.1, 14.5, 4.7), sd_post = c(11.6, 4.1, 0.1, 4.4, 4.6),
                 ni = c(20, 50, 9, 10, 14), ri = c(0.47, 0.64, 0.77, 0.89, 0.44))
mC <- data.frame(m_pre = c(23.1, 24.9, 0.6, 55.7, 34.8), m_post = c(19.7, 25.3, 0.6, 60.7, 33.4),
                 sd_pre = c(13.8, 4.1, 0.2, 17.3, 3.1), sd_post = c(14.8, 3.3, 0.2, 17.9, 6.9),
                 ni = c(20, 42, 9, 11, 14), ri = c(0.47, 0.64, 0.77, 0.89, 0.44))
src <- "illustrative pre/post data after Morris (2008), treatment arms"
chg <- list(m1i = mT$m_post, m2i = mT$m_pre, sd1i = mT$sd_post, sd2i = mT$sd_pre, ni = mT$ni,
            ri = mT$ri)
case("morris_MC", "MC", chg, source = src)
for (vt in c("LS", "LS2")) case(paste0("morris_SMCC_", vt), "SMCC", chg, list(vtype = vt), src)
chr <- list(m1i = mT$m_post, m2i = mT$m_pre, sd1i = mT$sd_pre, ni = mT$ni, ri = mT$ri)
for (vt in c("LS", "LS2")) case(paste0("morris_SMCR_", vt), "SMCR", chr, list(vtype = vt), src)

# two-group SMD of change scores: change SD per arm (Cochrane Handbook 6.5.2.8), then escalc SMD
sdc <- function(pre, post, r) sqrt(pre^2 + post^2 - 2 * r * pre * post)
two <- list(m1i_pre = mT$m_pre, m1i_post = mT$m_post, sd1i_pre = mT$sd_pre,
            sd1i_post = mT$sd_post, m2i_pre = mC$m_pre, m2i_post = mC$m_post,
            sd2i_pre = mC$sd_pre, sd2i_post = mC$sd_post, n1i = mT$ni, n2i = mC$ni, ri = mT$ri)
chg2 <- list(m1i = mT$m_post - mT$m_pre, m2i = mC$m_post - mC$m_pre,
             sd1i = sdc(mT$sd_pre, mT$sd_post, mT$ri), sd2i = sdc(mC$sd_pre, mC$sd_post, mC$ri),
             n1i = mT$ni, n2i = mC$ni)
src <- paste("illustrative pre/post data after Morris (2008); change SD",
             "sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre sd_post), then metafor::escalc")
for (vt in c("LS", "UB", "LS2", "AV")) {
  res <- escalc("SMD", m1i = chg2$m1i, m2i = chg2$m2i, sd1i = chg2$sd1i, sd2i = chg2$sd2i,
                n1i = chg2$n1i, n2i = chg2$n2i, vtype = vt)
  write_case(paste0("morris_SMD_CHANGE_", vt), "SMD_CHANGE", two, list(vtype = vt), res$yi,
             res$vi, "R, by formula", paste(src, "(measure SMD)"))
}
r <- rm5(chg2)
write_case("morris_SMD_CHANGE_RM5", "SMD_CHANGE", two, list(vtype = "RM5"), r$yi, r$vi,
           "R, by formula", paste(src_rm5, "on change scores"))
for (vt in c("LS", "HO")) {
  res <- escalc("MD", m1i = chg2$m1i, m2i = chg2$m2i, sd1i = chg2$sd1i, sd2i = chg2$sd2i,
                n1i = chg2$n1i, n2i = chg2$n2i, vtype = vt)
  write_case(paste0("morris_MD_CHANGE_", vt), "MD_CHANGE", two, list(vtype = vt), res$yi,
             res$vi, "R, by formula", paste(src, "(measure MD)"))
}

# Evans et al. 2016 (vertebroplasty vs kyphoplasty), pain 0-10 at baseline and 1 year, from
# ../shared/data/vertebroplasty/arm_level.csv (n = number randomised); pre-post r assumed 0.5.
vp_file <- file.path("..", "shared", "data", "vertebroplasty", "arm_level.csv")
if (file.exists(vp_file)) {
  vp <- read.csv(vp_file)
  ev <- subset(vp, study == "Evans 2016" & outcome == "pain")
  g <- function(arm, tp, col) ev[ev$arm == arm & ev$timepoint_label == tp, col]
  two_vp <- list(m1i_pre = g("intervention", "baseline", "mean"),
                 m1i_post = g("intervention", "1 year", "mean"),
                 sd1i_pre = g("intervention", "baseline", "sd"),
                 sd1i_post = g("intervention", "1 year", "sd"),
                 m2i_pre = g("control", "baseline", "mean"),
                 m2i_post = g("control", "1 year", "mean"),
                 sd2i_pre = g("control", "baseline", "sd"),
                 sd2i_post = g("control", "1 year", "sd"),
                 n1i = g("intervention", "baseline", "n"), n2i = g("control", "baseline", "n"),
                 ri = 0.5)
  res <- with(two_vp, escalc("SMD", m1i = m1i_post - m1i_pre, m2i = m2i_post - m2i_pre,
                             sd1i = sdc(sd1i_pre, sd1i_post, ri),
                             sd2i = sdc(sd2i_pre, sd2i_post, ri), n1i = n1i, n2i = n2i))
  # one study: keep the inputs as arrays of length 1
  write_json(list(name = "evans2016_SMD_CHANGE", measure = "SMD_CHANGE",
                  options = structure(list(), names = character(0)),
                  inputs = lapply(two_vp, I), yi = I(as.numeric(res$yi)),
                  vi = I(as.numeric(res$vi)), reference = "R, by formula",
                  source = paste("Evans et al. 2016 pain, baseline and 1 year, from",
                                 "shared/data/vertebroplasty/arm_level.csv; r = 0.5 assumed;",
                                 "change SD (Handbook 6.5.2.8) then metafor::escalc SMD"),
                  metafor_version = as.character(packageVersion("metafor"))),
             file.path(out_dir, "evans2016_SMD_CHANGE.json"), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "null")
}

# ------------------------------------------------------------------ correlations: dat.molloy2014
co <- list(ri = dat.molloy2014$ri, ni = dat.molloy2014$ni)
src <- "metadat::dat.molloy2014 (Molloy et al. 2014)"
for (vt in c("LS", "AV")) case(paste0("molloy_COR_", vt), "COR", co, list(vtype = vt), src)
case("molloy_ZCOR", "ZCOR", co, source = src)
cs <- list(ri = c(0.3, -0.5, 0, 0.9), ni = c(3, 4, 10, 2))
src <- "constructed small samples (ni <= 3: vi is NA in metafor)"
case("smallcor_COR", "COR", cs, source = src)
case("smallcor_ZCOR", "ZCOR", cs, source = src)

# ------------------------------------------------------------------ generic inverse variance
z975 <- qnorm(0.975)
hk <- dat.hackshaw1998
se <- (log(hk$or.ub) - log(hk$or.lb)) / (2 * z975)
write_case("hackshaw_GEN_ratio_ci", "GEN",
           list(yi = hk$or, ci_lb = hk$or.lb, ci_ub = hk$or.ub), list(ratio = TRUE),
           log(hk$or), se^2, "R, by formula",
           paste("metadat::dat.hackshaw1998 odds ratios with 95% CIs;",
                 "SE = (log(ub) - log(lb)) / (2 z), Cochrane Handbook 6.3.2"))
res <- escalc(measure = "GEN", yi = log(hk$or), sei = se)
write_case("hackshaw_GEN_sei", "GEN", list(yi = log(hk$or), sei = se), list(), res$yi, res$vi,
           "metafor::escalc", "metadat::dat.hackshaw1998 log odds ratios with their SE")
md <- list(yi = c(-1.2, 0.4, 2.5, -0.3), ci_lb = c(-2.0, -0.5, 1.1, -0.9),
           ci_ub = c(-0.4, 1.3, 3.9, 0.3))
z95 <- qnorm(0.95)
write_case("gen_md_ci90", "GEN", md, list(level = 90), md$yi,
           ((md$ci_ub - md$ci_lb) / (2 * z95))^2, "R, by formula",
           "constructed mean differences with 90% CIs; SE = (ub - lb)/(2 z_0.95), Handbook 6.3.1")
pv <- list(yi = c(0.3, -0.5, 1.2, -0.05), pval = c(0.04, 0.2, 0.001, 0.9))
write_case("gen_pval", "GEN", pv, list(), pv$yi, (abs(pv$yi) / qnorm(1 - pv$pval / 2))^2,
           "R, by formula", "constructed estimates with two-sided P; SE = |y| / z_{p/2}, Handbook 6.3.2")
pr_hr <- list(yi = c(0.8, 1.4), pval = c(0.03, 0.3))
write_case("gen_ratio_pval", "GEN", pr_hr, list(ratio = TRUE), log(pr_hr$yi),
           (abs(log(pr_hr$yi)) / qnorm(1 - pr_hr$pval / 2))^2, "R, by formula",
           "constructed hazard ratios with two-sided P; SE of log HR = |log HR| / z_{p/2}")

cat("wrote", length(list.files(out_dir, pattern = "\\.json$")), "fixtures to", out_dir, "\n")
