# The example review examples/antibiotic_prophylaxis and its metafor reference values
# (tests/review/test_example_antibiotic_prophylaxis.py).
#
# Run from the repository root:  Rscript tests/reference/example_antibiotic_prophylaxis_fixtures.R
# Requires R with metafor (>= 3.8), metadat and jsonlite. Writes
#   examples/antibiotic_prophylaxis/studies.csv    (one row per trial, from metadat)
#   examples/antibiotic_prophylaxis/outcomes.csv   (one row per trial x arm, from metadat)
#   tests/reference/example_antibiotic_prophylaxis/analyses.json  (metafor results)
#
# Data: metadat::dat.damico2009, the 16 trials of topical plus systemic antibiotic prophylaxis
# versus no prophylaxis, outcome respiratory tract infections (RTI), from
# D'Amico R, Pifferi S, Torri V, Brazzi L, Parmelli E, Liberati A. Antibiotic prophylaxis to reduce
# respiratory tract infections and mortality in adults receiving intensive care. Cochrane Database
# Syst Rev 2009;(4):CD000022. https://doi.org/10.1002/14651858.CD000022.pub3
#
# The review pools odds ratios by Mantel-Haenszel, random effects as RevMan 5 does (Deeks &
# Higgins, Statistical algorithms in Review Manager 5, 2010): the M-H common estimate, Cochran's Q
# of the per-study log ORs around it (metafor rma.mh's QE), the DerSimonian-Laird moment
# tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)), w = 1/v, and the inverse-variance
# random-effects estimate with that tau^2 (metafor rma(..., tau2 = tau2)). Zero cells: RevMan's
# rule, 0.5 added to every cell of a trial with a zero cell, for the trial's own log OR and inside
# the M-H computation (rma.mh add = c(0.5, 0.5), to = c("only0", "only0")).

suppressMessages(library(metafor))
suppressMessages(library(metadat))
library(jsonlite)

CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
ADD <- c(0.5, 0.5)
TO <- c("only0", "only0")

ex_dir <- file.path("examples", "antibiotic_prophylaxis")
out_dir <- file.path("tests", "reference", "example_antibiotic_prophylaxis")
dir.create(ex_dir, showWarnings = FALSE, recursive = TRUE)
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

d <- dat.damico2009
d$study_id <- paste(d$study, d$year)
stopifnot(!anyDuplicated(d$study_id), nrow(d) == 16)
SRC <- "metadat::dat.damico2009 (D'Amico et al. 2009, https://doi.org/10.1002/14651858.CD000022.pub3)"

# ------------------------------------------------------------------ studies.csv
# Risk of bias: the source gives allocation concealment only (0 = not adequate, 1 = adequate).
# RoB 2 domain 1 (randomisation process), signalling question 1.2 "was the allocation sequence
# concealed?": adequate -> yes; not adequate -> no. With 1.3 (baseline imbalance) not reported,
# the RoB 2 algorithm gives "low" for 1.2 = yes and "high" for 1.2 = no. Overall RoB 2 is "high"
# when any domain is high, so rob_overall = "high" for the not-adequate trials; for the others
# the overall judgement is left empty (domains 2 to 5 are not in the source: never invented).
studies <- data.frame(
  study_id = d$study_id,
  label = d$study_id,
  year = d$year,
  comparison = "tps_vs_none",
  design = "randomised trial",
  n_intervention = d$nt,
  n_control = d$nc,
  allocation_concealment = ifelse(d$conceal == 1, "adequate", "not adequate"),
  blinding = ifelse(d$blind == 1, "double-blind", "open"),
  rob_randomisation = ifelse(d$conceal == 1, "low", "high"),
  rob_overall = ifelse(d$conceal == 1, NA, "high"),
  source = SRC,
  note = paste0("allocation concealment ", ifelse(d$conceal == 1, "adequate", "not adequate"),
                " and ", ifelse(d$blind == 1, "double-blind", "open"),
                " as coded in metadat (conceal = ", d$conceal, ", blind = ", d$blind,
                "); n_intervention, n_control: patients analysed for RTI"),
  stringsAsFactors = FALSE)
studies <- studies[order(studies$year, studies$study_id), ]
write.csv(studies, file.path(ex_dir, "studies.csv"), row.names = FALSE, na = "")

# ------------------------------------------------------------------ outcomes.csv
arm <- function(trt, x, n) {
  data.frame(study_id = d$study_id, outcome = "rti", timepoint_weeks = 1, treatment = trt,
             value_type = "events", events = x, total = n, source = SRC,
             note = paste("respiratory tract infections during the ICU stay (no time point in",
                          "the source; coded 1 week, a placeholder that puts every trial in the single window)"),
             stringsAsFactors = FALSE)
}
outcomes <- rbind(arm("topical_systemic", d$xt, d$nt), arm("no_prophylaxis", d$xc, d$nc))
outcomes <- outcomes[order(match(outcomes$study_id, studies$study_id),
                           outcomes$treatment != "topical_systemic"), ]
write.csv(outcomes, file.path(ex_dir, "outcomes.csv"), row.names = FALSE, na = "")

# ------------------------------------------------------------------ reference results
# M-H random effects (RevMan 5) of the trials in `sel`; also the M-H common effect.
mh_random <- function(sel) {
  x <- d[sel, ]
  es <- escalc("OR", ai = x$xt, n1i = x$nt, ci = x$xc, n2i = x$nc)   # add 0.5 to only0
  k <- nrow(x)
  mh <- rma.mh(measure = "OR", ai = x$xt, n1i = x$nt, ci = x$xc, n2i = x$nc, add = ADD, to = TO)
  w <- 1 / es$vi
  stopifnot(abs(sum(w * (es$yi - mh$beta[1])^2) - mh$QE) < 1e-9)
  tau2 <- max(0, (mh$QE - (k - 1)) / (sum(w) - sum(w^2) / sum(w)))
  re <- rma(es$yi, es$vi, tau2 = tau2, method = "REML", control = CTRL)
  pr <- predict(re)   # prediction interval estimate +/- z sqrt(tau^2 + SE^2)
  list(study_id = x$study_id, k = k, yi = as.numeric(es$yi), vi = as.numeric(es$vi),
       control_risk = x$xc / x$nc,
       random = list(estimate = as.numeric(re$beta), se = re$se, ci_lb = re$ci.lb,
                     ci_ub = re$ci.ub, pval = re$pval, tau2 = tau2, Q = mh$QE,
                     Q_pval = mh$QEp, I2 = 100 * max(0, (mh$QE - (k - 1)) / mh$QE),
                     pi_lb = pr$pi.lb, pi_ub = pr$pi.ub, weights = as.numeric(weights(re))),
       common = list(estimate = as.numeric(mh$beta), se = mh$se, ci_lb = mh$ci.lb,
                     ci_ub = mh$ci.ub, pval = mh$pval, Q = mh$QE))
}

# test for subgroup differences from the subgroup estimates and SEs (RevMan 5; Cochrane
# Handbook 10.11.3.1): a common-effect meta-analysis of the subgroup estimates, its Q
subgroup_test <- function(fits) {
  b <- sapply(fits, function(f) f$random$estimate)
  se <- sapply(fits, function(f) f$random$se)
  m <- rma(b, sei = se, method = "EE")
  list(Q = m$QE, df = length(b) - 1, pval = m$QEp)
}

all_trials <- rep(TRUE, nrow(d))
main <- mh_random(all_trials)

# Small-study checks run on the inverse-variance analogue of the M-H random-effects model:
# rma.uni with the DerSimonian-Laird tau^2 on the same per-study log ORs (metafor's regtest,
# ranktest and trimfill are defined for rma.uni fits only). Egger's test is the classic weighted
# regression (regtest model = "lm"; Egger et al. 1997).
iv <- rma(main$yi, main$vi, method = "DL")
eg <- regtest(iv, model = "lm", predictor = "sei")
rk <- ranktest(iv)
tf <- trimfill(iv)

sub_conceal <- list(adequate = mh_random(d$conceal == 1),
                    `not adequate` = mh_random(d$conceal == 0))
sub_blind <- list(`double-blind` = mh_random(d$blind == 1), open = mh_random(d$blind == 0))

res <- list(
  dataset = "metadat::dat.damico2009",
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  r_version = R.version.string,
  analysis = "tps_vs_none.rti.icu_stay",
  # the metadat rows, to check that the CSVs of the example are these data unchanged
  data = d[, c("study_id", "study", "year", "xt", "nt", "xc", "nc", "conceal", "blind")],
  main = main,
  iv_dl = list(estimate = as.numeric(iv$beta), se = iv$se, ci_lb = iv$ci.lb, ci_ub = iv$ci.ub,
               tau2 = iv$tau2, I2 = iv$I2, QE = iv$QE,
               egger = list(tval = eg$zval, df = eg$dfs, pval = eg$pval,
                            limit = as.numeric(eg$est), limit_ci_lb = eg$ci.lb,
                            limit_ci_ub = eg$ci.ub),
                 begg = list(tau = as.numeric(rk$tau), pval = rk$pval),
                 trimfill = list(k0 = tf$k0, side = tf$side, estimate = as.numeric(tf$beta),
                                 ci_lb = tf$ci.lb, ci_ub = tf$ci.ub)),
  subgroups = list(
    allocation_concealment = list(levels = sub_conceal, test = subgroup_test(sub_conceal)),
    blinding = list(levels = sub_blind, test = subgroup_test(sub_blind))),
  # sensitivity analysis excluding the trials at high risk of bias (= not adequate concealment)
  excluding_high_rob = sub_conceal$adequate)

write_json(res, file.path(out_dir, "analyses.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null", null = "null")
cat(sprintf("M-H random OR %.4f (%.4f to %.4f), tau^2 %.6f; k = %d\n", exp(main$random$estimate),
            exp(main$random$ci_lb), exp(main$random$ci_ub), main$random$tau2, main$k))
