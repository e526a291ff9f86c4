# Reference values for the review pipeline (tests/review/test_reference.py).
#
# Run from the repository root:  Rscript tests/reference/review_fixtures.R
# Requires R with metafor (>= 3.8) and jsonlite. Writes tests/reference/review/analyses.json.
# Each case is one analysis of examples/vertebroplasty or of the small test review
# (tests/review/review_helpers.py), recomputed here from the raw numbers with escalc() and rma(),
# independently of the Python code: per-study yi, vi, weights; pooled estimate, SE, CI, tau^2,
# I^2, Q, p and the prediction interval.

suppressMessages(library(metafor))
suppressMessages(library(metadat))
library(jsonlite)

CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
z <- qnorm(0.975)

fit_case <- function(id, yi, vi, method = "REML", test = "z") {
  k <- length(yi)
  if (k == 1) {
    res <- rma(yi, vi, method = "EE")
  } else {
    res <- rma(yi, vi, method = method, test = test, control = CTRL)
  }
  out <- list(id = id, k = k, yi = as.numeric(yi), vi = as.numeric(vi),
              weights = as.numeric(weights(res)), estimate = as.numeric(res$b),
              se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub, pval = res$pval)
  if (k > 1) {
    out$tau2 <- res$tau2
    out$I2 <- res$I2
    out$QE <- res$QE
    out$QEp <- res$QEp
  }
  if (k >= 3) {
    p <- predict(res)
    out$pi_lb <- p$pi.lb
    out$pi_ub <- p$pi.ub
  }
  out
}

sd_change <- function(sd_pre, sd_post, r) sqrt(sd_pre^2 + sd_post^2 - 2 * r * sd_pre * sd_post)

cases <- list()

# --- examples/vertebroplasty: vp_vs_usual_care.new_fracture.late (OR)
# Klazen 2010 events 15/91 vs 21/85; Blasco 2012 OR 2.78 (1.02 to 7.62), intervention over control
kl <- escalc("OR", ai = 15, n1i = 91, ci = 21, n2i = 85)
bl_yi <- log(2.78)
bl_vi <- ((log(7.62) - log(1.02)) / (2 * z))^2
cases[[length(cases) + 1]] <- fit_case("vp_vs_usual_care.new_fracture.late",
                                       c(kl$yi, bl_yi), c(kl$vi, bl_vi))

# --- vp_vs_placebo.pain.late (studies in the pipeline's order):
# Buchbinder 2009 (Kroon 2014, 12 months) adjusted MD of improvement 0.3 (-0.9, 1.5), positive =
# greater pain reduction with VP -> intervention minus control = -0.3 (-1.5, 0.9);
# Comstock 2013 MD 1.02 (0.04, 2.01), positive = lower pain with VP
# -> intervention minus control = -1.02 (-2.01, -0.04)
cases[[length(cases) + 1]] <- fit_case("vp_vs_placebo.pain.late", c(-0.3, -1.02),
                                       c(((0.9 - -1.5) / (2 * z))^2,
                                         ((-0.04 - -2.01) / (2 * z))^2))

# --- vp_vs_placebo.treatment_success.early (RR): VAPOUR 24/61 vs 12/59
va <- escalc("RR", ai = 24, n1i = 61, ci = 12, n2i = 59)
cases[[length(cases) + 1]] <- fit_case("vp_vs_placebo.treatment_success.early", va$yi, va$vi)

# --- vp_vs_kyphoplasty.disability.early (MD of change, r = 0.5; sensitivity 0.2, 0.8)
# Evans 2016 RMDQ at 30 days (4.3 weeks): VP 8.8 (8.5), baseline 16.3 (7.4), n 56;
# KP 8.6 (7.2), baseline 17.3 (6.6), n 59
for (r in c(0.5, 0.2, 0.8)) {
  ev <- escalc("MD", m1i = 8.8 - 16.3, m2i = 8.6 - 17.3, sd1i = sd_change(7.4, 8.5, r),
               sd2i = sd_change(6.6, 7.2, r), n1i = 56, n2i = 59)
  cases[[length(cases) + 1]] <- fit_case(sprintf("vp_vs_kyphoplasty.disability.early@r=%g", r),
                                         ev$yi, ev$vi)
}

# --- test review (tests/review/review_helpers.py): a_vs_b.pain.early, studies S1, S3, S2
s1 <- escalc("MD", m1i = 2.5, m2i = 4.1, sd1i = 2.1, sd2i = 2.3, n1i = 20, n2i = 20)
s3_yi <- -1.2
s3_vi <- ((-0.2 - -2.2) / (2 * z))^2
s2 <- escalc("MD", m1i = 4.0, m2i = 4.5, sd1i = 2.5, sd2i = 2.4, n1i = 30, n2i = 30)
cases[[length(cases) + 1]] <- fit_case("test.a_vs_b.pain.early", c(s1$yi, s3_yi, s2$yi),
                                       c(s1$vi, s3_vi, s2$vi))

# --- test review: a_vs_b.fracture.late (OR), S1, S3, S2 events and S4 OR 1.5 (0.8, 2.8)
# reported as control over intervention -> 1/1.5 (1/2.8, 1/0.8)
fr <- escalc("OR", ai = c(5, 10, 7), n1i = c(20, 40, 30), ci = c(8, 9, 12), n2i = c(20, 40, 30))
s4_yi <- log(1 / 1.5)
s4_vi <- ((log(1 / 0.8) - log(1 / 2.8)) / (2 * z))^2
cases[[length(cases) + 1]] <- fit_case("test.a_vs_b.fracture.late", c(fr$yi, s4_yi),
                                       c(fr$vi, s4_vi))

# =====================================================================================
# Arm-based test review (tests/review/arm_helpers.py): multi-arm trials combined (Cochrane
# Handbook Table 6.5.a; events summed) or split (Handbook 23.3.4: shared group's n and events
# divided), HR from CI / SE / O - E and V / log-rank P, rates, and Mantel-Haenszel / Peto
# pooling. Every number below is re-entered from the test review and recomputed here.

# Handbook Table 6.5.a: combine two groups
comb <- function(n1, m1, s1, n2, m2, s2) {
  n <- n1 + n2
  m <- (n1 * m1 + n2 * m2) / n
  s <- sqrt(((n1 - 1) * s1^2 + (n2 - 1) * s2^2 + n1 * n2 / n * (m1 - m2)^2) / (n - 1))
  c(n = n, m = m, s = s)
}

iv_case <- function(id, yi, vi, method = "REML") {
  fit_case(id, yi, vi, method = method)
}

# RevMan 5 zero-cell rule: 0.5 added to studies with a zero cell; double zeros dropped (OR, RR)
revman_es <- function(measure, ...) {
  escalc(measure, ..., add = 1/2, to = "only0", drop00 = !(measure %in% c("RD", "IRD")))
}

mh_case <- function(id, measure, random = FALSE, peto = FALSE, ...) {
  keep00 <- measure %in% c("RD", "IRD")
  if (peto) {
    es <- escalc("PETO", ..., add = 0, to = "none", drop00 = TRUE)
    res <- rma.peto(..., add = c(0, 0), to = c("none", "none"), drop00 = c(TRUE, TRUE))
  } else {
    es <- revman_es(measure, ...)
    res <- rma.mh(measure = measure, ..., add = c(1/2, 1/2), to = c("only0", "only0"),
                  drop00 = c(!keep00, !keep00))
  }
  ok <- !is.na(es$yi)
  yi <- as.numeric(es$yi[ok]); vi <- as.numeric(es$vi[ok])
  out <- list(id = id, k = sum(ok), yi = yi, vi = vi, QE = res$QE, QEp = res$QEp)
  if (!random) {
    out$weights <- as.numeric(weights(res))
    out$estimate <- as.numeric(res$b); out$se <- res$se
    out$ci_lb <- res$ci.lb; out$ci_ub <- res$ci.ub; out$pval <- res$pval
    out$I2 <- res$I2
    out$tau2 <- 0
    return(out)
  }
  # RevMan 5 (Deeks & Higgins 2010): DerSimonian-Laird tau^2 from the M-H Q, IV weights
  w <- 1 / vi
  k <- length(yi)
  tau2 <- max(0, (res$QE - (k - 1)) / (sum(w) - sum(w^2) / sum(w)))
  re <- rma(yi, vi, tau2 = tau2, method = "DL")
  p <- predict(re)
  out$weights <- as.numeric(weights(re))
  out$estimate <- as.numeric(re$b); out$se <- re$se
  out$ci_lb <- re$ci.lb; out$ci_ub <- re$ci.ub; out$pval <- re$pval
  out$tau2 <- tau2
  out$I2 <- max(0, (res$QE - (k - 1)) / res$QE) * 100
  if (k >= 3) { out$pi_lb <- p$pi.lb; out$pi_ub <- p$pi.ub }
  out
}

for (cmp in c("kp_vs_placebo", "kp_vs_placebo_split")) {
  split <- cmp == "kp_vs_placebo_split"
  pre <- paste0("arm.", cmp, ".")
  # ---- pain (MD, REML): T1, T2 two-arm; T3 (kp, kp_high, placebo); T5 (kp, kp_high, placebo)
  if (!split) {
    t3 <- comb(50, 2.9, 2.1, 50, 2.5, 1.9)
    t5 <- comb(50, 3.3, 2.0, 50, 3.0, 2.2)
    es <- escalc("MD", m1i = c(3.1, 3.5, t3["m"], t5["m"]), m2i = c(4.0, 3.9, 4.2, 3.8),
                 sd1i = c(2.0, 2.4, t3["s"], t5["s"]), sd2i = c(2.2, 2.5, 2.3, 2.1),
                 n1i = c(40, 60, t3["n"], t5["n"]), n2i = c(40, 60, 50, 50))
  } else {
    es <- escalc("MD", m1i = c(3.1, 3.5, 2.9, 2.5, 3.3, 3.0), m2i = c(4.0, 3.9, 4.2, 4.2, 3.8, 3.8),
                 sd1i = c(2.0, 2.4, 2.1, 1.9, 2.0, 2.2), sd2i = c(2.2, 2.5, 2.3, 2.3, 2.1, 2.1),
                 n1i = c(40, 60, 50, 50, 50, 50), n2i = c(40, 60, 25, 25, 25, 25))
  }
  cases[[length(cases) + 1]] <- iv_case(paste0(pre, "pain.main"), es$yi, es$vi)
  # ---- fracture (OR, M-H fixed): T4 single zero; T6 double zero (dropped)
  if (!split) {
    ai <- c(8, 10, 12, 0, 0); n1 <- c(40, 60, 100, 30, 45)
    ci <- c(12, 15, 11, 4, 0); n2 <- c(40, 60, 50, 30, 45)
  } else {
    ai <- c(8, 10, 5, 7, 0, 0); n1 <- c(40, 60, 50, 50, 30, 45)
    ci <- c(12, 15, 5.5, 5.5, 4, 0); n2 <- c(40, 60, 25, 25, 30, 45)
  }
  cases[[length(cases) + 1]] <- mh_case(paste0(pre, "fracture.main"), "OR",
                                        ai = ai, n1i = n1, ci = ci, n2i = n2)
  # ---- ae (RR, M-H random as RevMan)
  if (!split) {
    ai <- c(4, 20, 20, 47); n1 <- c(40, 60, 100, 100); ci <- c(12, 11, 5, 10); n2 <- c(40, 60, 50, 50)
  } else {
    ai <- c(4, 20, 6, 14, 25, 22); n1 <- c(40, 60, 50, 50, 50, 50)
    ci <- c(12, 11, 2.5, 2.5, 5, 5); n2 <- c(40, 60, 25, 25, 25, 25)
  }
  cases[[length(cases) + 1]] <- mh_case(paste0(pre, "ae.main"), "RR", random = TRUE,
                                        ai = ai, n1i = n1, ci = ci, n2i = n2)
  # ---- serious (Peto OR)
  if (!split) {
    ai <- c(1, 0, 1, 3); n1 <- c(40, 60, 100, 100); ci <- c(3, 2, 2, 4); n2 <- c(40, 60, 50, 50)
  } else {
    ai <- c(1, 0, 1, 0, 2, 1); n1 <- c(40, 60, 50, 50, 50, 50)
    ci <- c(3, 2, 1, 1, 2, 2); n2 <- c(40, 60, 25, 25, 25, 25)
  }
  cases[[length(cases) + 1]] <- mh_case(paste0(pre, "serious.main"), "OR", peto = TRUE,
                                        ai = ai, n1i = n1, ci = ci, n2i = n2)
  # ---- survival (HR, DL): contrasts are never combined or split
  v5 <- 30 * 45 / (30 + 45)                 # Parmar 1998: V = O1 O2 / (O1 + O2)
  v6 <- 60 * 45 * 45 / (45 + 45)^2          # Tierney 2007: V = O n1 n2 / (n1 + n2)^2
  yi <- c(log(0.75), -log(1.25), -4.2 / 12.5, -3.1 / 11,
          -sqrt(v5) * qnorm(1 - 0.03 / 2) / v5, sqrt(v6) * qnorm(1 - 0.20 / 2) / v6)
  vi <- c(((log(1.02) - log(0.55)) / (2 * z))^2, 0.15^2, 1 / 12.5, 1 / 11, 1 / v5, 1 / v6)
  cases[[length(cases) + 1]] <- iv_case(paste0(pre, "survival.main"), yi, vi, method = "DL")
  # ---- infection (IRR, REML) and falls (IRD, M-H fixed)
  if (!split) {
    x1 <- c(12, 18, 16); t1 <- c(35.5, 55, 89); x2 <- c(20, 22, 15); t2 <- c(34, 52.5, 43.5)
    f1 <- c(30, 44, 40); f2 <- c(41, 40, 33)
  } else {
    x1 <- c(12, 18, 9, 7); t1 <- c(35.5, 55, 45, 44); x2 <- c(20, 22, 7.5, 7.5)
    t2 <- c(34, 52.5, 21.75, 21.75); f1 <- c(30, 44, 21, 19); f2 <- c(41, 40, 16.5, 16.5)
  }
  es <- escalc("IRR", x1i = x1, t1i = t1, x2i = x2, t2i = t2)
  cases[[length(cases) + 1]] <- iv_case(paste0(pre, "infection.main"), es$yi, es$vi)
  cases[[length(cases) + 1]] <- mh_case(paste0(pre, "falls.main"), "IRD",
                                        x1i = f1, t1i = t1, x2i = f2, t2i = t2)
}
# ---- kp_vs_usual.pain: T4 (kp vs usual), T5 (kp vs usual; kp_high and placebo not used)
es <- escalc("MD", m1i = c(3.0, 3.3), m2i = c(4.6, 4.4), sd1i = c(2.2, 2.0), sd2i = c(2.6, 2.4),
             n1i = c(30, 50), n2i = c(30, 50))
cases[[length(cases) + 1]] <- iv_case("arm.kp_vs_usual.pain.main", es$yi, es$vi)

# ---- published worked example: Laopaiboon et al. 2015, Cochrane review CD001954.pub4,
# Analysis 1.1 (clinical failure, 15 trials): RR M-H random 1.09 (0.64 to 1.85) (abstract)
lao <- dat.laopaiboon2015
cases[[length(cases) + 1]] <- mh_case("laopaiboon2015.failure.main", "RR", random = TRUE,
                                      ai = lao$ai, n1i = lao$n1i, ci = lao$ci, n2i = lao$n2i)

write_json(list(metafor = as.character(packageVersion("metafor")), cases = cases),
           file.path("tests", "reference", "review", "analyses.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", length(cases), "cases\n")
