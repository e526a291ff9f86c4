# Reference values for the review pipeline (tests/review/test_reference.py).
#
# Run from the repository root:  Rscript tests/reference/review_fixtures.R
# Requires R with metafor (>= 3.8) and jsonlite. Writes tests/reference/review/analyses.json.
# Each case is one analysis of examples/vertebroplasty or of the small test review
# (tests/review/review_helpers.py), recomputed here from the raw numbers with escalc() and rma(),
# independently of the Python code: per-study yi, vi, weights; pooled estimate, SE, CI, tau^2,
# I^2, Q, p and the prediction interval.

suppressMessages(library(metafor))
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

# --- vp_vs_placebo.pain.late: Comstock 2013 MD 1.02 (0.04, 2.01), positive = lower pain with VP
# -> intervention minus control = -1.02 (-2.01, -0.04)
cases[[length(cases) + 1]] <- fit_case("vp_vs_placebo.pain.late", -1.02,
                                       ((-0.04 - -2.01) / (2 * z))^2)

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

write_json(list(metafor = as.character(packageVersion("metafor")), cases = cases),
           file.path("tests", "reference", "review", "analyses.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", length(cases), "cases\n")
