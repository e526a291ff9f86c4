# Reference values for the review pipeline's dependence models (tests/review/test_dependence.py,
# src/evsynth/review/dependence.py).
#
# Run from the repository root:  Rscript tests/reference/dependence_fixtures.R
# Requires R with metafor (3.8), clubSandwich (0.5) and jsonlite. Writes
#   tests/reference/dependence/dependence.json
# with the arm-level data (the Python test writes them as a review folder's outcomes.csv) and,
# computed here from the raw arms with metafor: the effects (escalc "MD"), the sampling
# covariance matrix (vcalc: cluster = study, obs = time point, rho, grp1/grp2 with sizes
# w1/w2), the three-level model rma.mv(yi, V, random = ~ 1 | study/es) (REML and ML, z and t
# tests), robust(fit, cluster = study, clubSandwich = TRUE), and the one-effect-per-study
# analysis (closest time point to 12 weeks, the shared placebo group split, rma.uni REML).
# metafor is run tight: nlminb rel.tol 1e-12 (rma.mv), threshold/tol 1e-12 (rma.uni).

source(file.path("tests", "reference", "fixture_helpers.R"))
suppressMessages(library(clubSandwich))
out_dir <- fixture_dir("dependence")

MVCTRL <- list(rel.tol = 1e-12, eval.max = 10000, iter.max = 10000)

# arms: study, year, treatment, week, n, mean, sd (pain 0-10, lower is better)
arms <- read.csv(text = "
study,year,treatment,week,n,mean,sd
S1,2010,drugA,12,140,3.9,2.0
S1,2010,placebo,12,141,4.8,2.1
S1,2010,drugA,24,138,4.2,2.2
S1,2010,placebo,24,139,4.5,2.3
S1,2010,drugA,52,135,3.5,2.4
S1,2010,placebo,52,136,4.1,2.2
S2,2012,drugA,12,160,3.1,1.8
S2,2012,drugB,12,158,2.4,1.9
S2,2012,placebo,12,162,4.2,2.0
S3,2013,drugA,12,125,4.9,2.6
S3,2013,placebo,12,124,4.6,2.5
S4,2015,drugB,10,180,3.0,1.7
S4,2015,placebo,10,182,3.8,1.9
S4,2015,drugB,20,176,2.5,1.8
S4,2015,placebo,20,179,3.9,2.0
S5,2016,drugA,12,130,2.9,2.2
S5,2016,placebo,12,130,4.9,2.4
S6,2018,drugA,12,145,3.6,2.1
S6,2018,drugB,12,144,3.0,2.0
S6,2018,placebo,12,146,4.0,2.2
S6,2018,drugA,24,142,3.5,2.3
S6,2018,drugB,24,141,2.6,2.1
S6,2018,placebo,24,143,3.9,2.4
S7,2019,drugA,16,155,3.8,1.9
S7,2019,placebo,16,154,4.3,2.0
", stringsAsFactors = FALSE)

WINDOW <- c(8, 26)   # weeks, upper bound included; target 12 weeks (rule "closest")
TARGET <- 12

# every effect of the window: each time point, each active arm against placebo (groups whole)
effects <- function(a) {
  rows <- list()
  for (s in unique(a$study)) for (w in sort(unique(a$week[a$study == s]))) {
    if (w < WINDOW[1] || w > WINDOW[2]) next
    at <- a[a$study == s & a$week == w, ]
    ctl <- at[at$treatment == "placebo", ]
    for (tr in at$treatment[at$treatment != "placebo"]) {
      x <- at[at$treatment == tr, ]
      rows[[length(rows) + 1]] <- data.frame(
        study = s, year = x$year, week = w, grp1 = tr, grp2 = "placebo",
        m1i = x$mean, sd1i = x$sd, n1i = x$n, m2i = ctl$mean, sd2i = ctl$sd, n2i = ctl$n)
    }
  }
  d <- do.call(rbind, rows)
  d <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = d)
  d$es <- seq_len(nrow(d))
  d
}
dat <- effects(arms)

vmat <- function(rho) vcalc(vi, cluster = study, obs = paste0("w", week), rho = rho, grp1 = grp1,
                            grp2 = grp2, w1 = n1i, w2 = n2i, data = dat)

# nlminb may stop with "false convergence" at rel.tol = 1e-12 (a component near 0): then
# retry looser and record the control used (as mv_fixtures.R)
CTRLS <- list(MVCTRL, list(rel.tol = 1e-11, eval.max = 10000, iter.max = 10000),
              list(rel.tol = 1e-10, eval.max = 10000, iter.max = 10000),
              list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000))
mvfit <- function(V, method, test) {
  for (ctrl in CTRLS) {
    r <- capture(rma.mv(yi, V, random = ~ 1 | study/es, data = dat, method = method,
                        test = test, control = ctrl))
    if (is.null(r$error)) { r$value$ctrl_used <- ctrl; return(r$value) }
  }
  stop(r$error)
}

i2_ml <- function(res, V) {
  # metafor FAQ "I^2 for multilevel and multivariate models" (Nakagawa & Santos 2012)
  W <- solve(V)
  X <- model.matrix(res)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  typical <- (res$k - res$p) / sum(diag(P))
  list(typical = typical, I2 = num(100 * res$sigma2 / (sum(res$sigma2) + typical)),
       I2_total = 100 * sum(res$sigma2) / (sum(res$sigma2) + typical))
}

fit_case <- function(rho, method, test) {
  V <- vmat(rho)
  res <- mvfit(V, method, test)
  rb <- robust(res, cluster = dat$study, clubSandwich = TRUE)
  pr <- predict(res)
  prb <- predict(rb)
  w <- weights(res)
  list(rho = rho, method = method, test = test, V = mat(V), control = res$ctrl_used,
       beta = num(res$b), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
       ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), ddf = num(res$ddf),
       sigma2 = num(res$sigma2), s_nlevels = num(res$s.nlevels), QE = res$QE, QEp = res$QEp,
       logLik = as.numeric(logLik(res)), pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub),
       weights = num(w), i2 = i2_ml(res, V),
       robust = list(beta = num(rb$b), se = num(rb$se), tval = num(rb$zval),
                     df = num(rb$ddf), pval = num(rb$pval), ci_lb = num(rb$ci.lb),
                     ci_ub = num(rb$ci.ub), pi_lb = num(prb$pi.lb), pi_ub = num(prb$pi.ub)))
}

cases <- list(
  reml_z = fit_case(0.6, "REML", "z"),
  ml_z = fit_case(0.6, "ML", "z"),
  reml_t = fit_case(0.6, "REML", "t"),
  reml_z_rho03 = fit_case(0.3, "REML", "z"),
  reml_z_rho09 = fit_case(0.9, "REML", "z"))

# one effect per study: the time point closest to 12 weeks (ties to the later), multi-arm
# trials split (the shared placebo group's n divided by the number of active arms)
one <- list()
for (s in unique(dat$study)) {
  d <- dat[dat$study == s, ]
  wk <- unique(d$week)
  best <- wk[order(abs(wk - TARGET), -wk)][1]
  d <- d[d$week == best, ]
  d$n2i <- d$n2i / nrow(d)
  one[[s]] <- d
}
one <- do.call(rbind, one)
one <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = one[, c("study", "week", "grp1", "grp2", "m1i", "sd1i", "n1i", "m2i",
                             "sd2i", "n2i")])
uni <- rma(yi, vi, data = one, method = "REML", control = CTRL)

x <- list(metafor_version = as.character(packageVersion("metafor")),
          clubSandwich_version = as.character(packageVersion("clubSandwich")),
          r_version = R.version.string, window = WINDOW, target = TARGET, arms = arms,
          effects = list(study = dat$study, week = dat$week, grp1 = dat$grp1,
                         yi = num(dat$yi), vi = num(dat$vi)),
          cases = cases,
          one_per_study = list(study = one$study, week = one$week, grp1 = one$grp1,
                               yi = num(one$yi), vi = num(one$vi), beta = num(uni$b),
                               se = num(uni$se), ci_lb = num(uni$ci.lb),
                               ci_ub = num(uni$ci.ub), tau2 = uni$tau2, I2 = uni$I2))
write_json(x, file.path(out_dir, "dependence.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "string", null = "null", dataframe = "rows")
cat("dependence.json:", length(cases), "cases\n")
