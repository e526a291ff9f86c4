# Reference values for the cases a differential fuzz against metafor found (session 11):
# meta_mh with a zero-variance study (tests/models/test_mh_zero_variance.py), the R^2 of an
# equal-effects meta-regression (tests/models/test_r2_equal_effects.py) and Kendall's test
# with ties (tests/models/test_ranktest_undefined.py); and (session 12, a fuzz against
# metafor, clubSandwich and robumeta) robumeta's hierarchical model with one effect per study
# and cluster-robust variances that are 0 or singular up to rounding
# (tests/models/test_robust_degenerate.py); rma.glmm cases where evsynth crashed, stopped at a
# local maximum or mis-integrated (tests/models/test_glmm_fuzz_findings.py); rma.mv t tests
# with containment df and deletion diagnostics (tests/models/test_meta_mv_fuzz_findings.py);
# selection models where evsynth's integral underflowed or its search stalled
# (tests/models/test_selmodel_fuzz_findings.py).
#
# Run from the repository root:  Rscript tests/reference/fuzz_findings_fixtures.R
# Writes tests/reference/fuzz_findings/<group>.json; the Python tests never need R.

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("fuzz_findings")

mh <- list(
  list(id = "RD_double_zero", measure = "RD",
       data = list(ai = c(1, 0, 5), bi = c(49, 33, 42), ci = c(1, 0, 0), di = c(23, 33, 19))),
  list(id = "RD_none_and_all", measure = "RD",
       data = list(ai = c(1, 0, 5), bi = c(49, 10, 42), ci = c(1, 10, 0), di = c(23, 0, 19))),
  list(id = "RR_all_events", measure = "RR",
       data = list(ai = c(1, 5, 5), bi = c(49, 0, 42), ci = c(1, 7, 2), di = c(23, 0, 19))),
  list(id = "IRD_no_events", measure = "IRD",
       data = list(x1i = c(1, 0, 5), t1i = c(100, 50, 80), x2i = c(3, 0, 2),
                   t2i = c(90, 60, 70))))
cases <- lapply(mh, function(m) {
  fit <- do.call(rma.mh, c(m$data, list(measure = m$measure, add = 0, drop00 = FALSE)))
  list(id = m$id, measure = m$measure, data = m$data, beta = num(fit$beta), se = num(fit$se),
       QE = num(fit$QE), I2 = num(fit$I2))
})
write_group("mh_zero_variance", cases,
            "rma.mh(..., add = 0, drop00 = FALSE) with a study of sampling variance 0")

v <- c(0.1, 0.2, 0.3, 0.1, 0.5)
x <- 1:5
r2 <- list(
  list(id = "ordinary", yi = c(0.1, 0.25, 0.3, 0.45, 0.62)),
  list(id = "identical", yi = rep(0.1 + 0.2, 5)))
cases <- lapply(r2, function(d) {
  fit <- rma(d$yi, v, mods = x, method = "EE", control = CTRL)
  list(id = d$id, yi = d$yi, vi = v, mods = x, R2 = num(fit$R2))
})
write_group("r2_equal_effects", cases, "rma(yi, vi, mods = 1:5, method = 'EE')$R2")

kx <- c(1, 2, 2, 3, 4, 5, 5, 6)
ky <- c(2, 1, 3, 3, 5, 4, 6, 7)
ct <- suppressWarnings(cor.test(kx, ky, method = "kendall", exact = FALSE))
write_group("kendall_ties", list(list(id = "ties", x = kx, y = ky, tau = num(ct$estimate),
                                      pval = num(ct$p.value))),
            "cor.test(x, y, method = 'kendall', exact = FALSE)")

# robumeta HIER with one effect per study: omega^2 is not identified (the moment equations
# coincide); robumeta's 0/0 lands at omega^2 = 0 here by the sign of rounding noise
suppressMessages(library(robumeta))
hier <- data.frame(
  yi = c(1.0371, 0.3413, 0.4058, 0.9131, 0.3677, 0.1716, 0.0789, 0.7097, -0.2894, 0.0002,
         0.3577, 0.6114, 0.4244, -0.4937, -0.0933, 0.007, 0.816, 0.894, 0.1392),
  vi = c(0.05454, 0.14201, 0.08672, 0.23623, 0.04491, 0.16248, 0.12427, 0.27425, 0.19812,
         0.17103, 0.04821, 0.03568, 0.18353, 0.27653, 0.02912, 0.12946, 0.11413, 0.01157,
         0.18915),
  x = c(2.433, -0.206, 0.77, -0.277, 0.936, 0.286, -0.442, -1.171, -0.613, 0.397, 1.627,
        0.931, -1.041, -0.334, 0.184, 0.011, 0.19, 0.891, 0.314), s = 1:19)
rb <- robu(yi ~ x, data = hier, studynum = s, var.eff.size = vi, modelweights = "HIER",
           small = TRUE)
write_group("robu_hier_one_effect", list(list(
  id = "hier_x", yi = hier$yi, vi = hier$vi, x = hier$x,
  tau2 = num(rb$mod_info$tau.sq), omega2 = num(rb$mod_info$omega.sq),
  beta = num(rb$reg_table$b.r), se = num(rb$reg_table$SE), df = num(rb$reg_table$dfs))),
  "robumeta::robu(yi ~ x, studynum = 1:k, modelweights = 'HIER', small = TRUE)")

# cluster-robust variance 0 up to rounding (the intercept, level 'a' of f, is one effect of
# one cluster) and a singular robust covariance of the tested coefficients
deg <- list(
  list(id = "zero_variance",
       yi = c(-0.5908, 0.5411, -0.3744, -0.5118, 0.6837, -0.2923, 1.0043, 1.0614, 0.0166,
              -0.8054, -0.2238),
       vi = c(0.29983, 0.18295, 0.23079, 0.28143, 0.23905, 0.12413, 0.10662, 0.26507,
              0.25175, 0.16889, 0.21615),
       study = c(1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5),
       f = c("b", "b", "b", "b", "b", "c", "a", "c", "b", "c", "c")),
  list(id = "singular_block",
       yi = c(0.1084, -0.053, -0.3785, 0.391, 0.6905, 0.5152),
       vi = c(0.2853, 0.06021, 0.13036, 0.26017, 0.28356, 0.20715),
       study = c(1, 2, 3, 4, 4, 4), f = c("b", "a", "a", "a", "c", "c")))
cases <- lapply(deg, function(d) {
  dat <- data.frame(yi = d$yi, vi = d$vi, study = d$study, f = d$f)
  fit <- rma(yi, vi, mods = ~ f, data = dat, method = "ML", control = CTRL)
  r <- robust(fit, cluster = dat$study, adjust = TRUE)
  c(d, list(beta = num(r$beta), se = num(r$se), pval = num(r$pval), QM = num(r$QM),
            QMp = num(r$QMp), vb_diag = num(diag(r$vb))))
})
write_group("robust_degenerate", cases,
            "robust(rma(yi, vi, mods = ~ f, method = 'ML'), cluster = study, adjust = TRUE)")

# rma.glmm: glmer with bobyqa (rhoend 1e-10); CM.EL for OR with optim BFGS and integrate()
suppressMessages({library(lme4); library(BiasedUrn)})
TIGHT_GLMER <- list(glmerCtrl = list(optimizer = "bobyqa",
                                     optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
TIGHT_CMEL <- list(optimizer = "optim", optmethod = "BFGS",
                   optCtrl = list(reltol = 1e-12, maxit = 1e4), intCtrl = list(rel.tol = 1e-10),
                   glmerCtrl = list(optimizer = "bobyqa",
                                    optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
glmm_cases <- list(
  # evsynth's Newton step took log tau to -593: 1 / tau^2 raised ZeroDivisionError
  list(id = "irr_cmel_underflow", measure = "IRR", model = "CM.EL", nAGQ = 10,
       ctrl = TIGHT_GLMER, data = list(
  x1i = c(21, 0, 3, 8, 11, 4, 17, 5, 6, 17, 5, 1, 0, 13, 1, 10, 0, 10, 7, 1, 4, 1, 0, 32, 8,
    4, 11, 80, 45, 17, 0, 17, 12, 19, 4, 546, 4, 34, 214, 2),
  t1i = c(1890.55, 2899.72, 708.14, 2984.27, 2493.33, 871.47, 2549.54, 3563.19, 4144.61,
    4972.53, 976.45, 224.61, 100.18, 2896.8, 398.57, 926.02, 624.61, 3245.2, 2395.39, 844.68,
    3989.36, 4465.07, 1356.59, 3185.91, 1983.26, 3746.09, 2197.88, 3308.84, 1565.06, 3048.29,
    205.18, 4670.19, 3292.6, 4337.96, 3883.35, 3364.61, 1287.05, 3043.7, 2487.68, 551.23),
  x2i = c(11, 1, 5, 7, 2, 25, 6, 0, 10, 6, 2, 0, 1, 5, 5, 48, 19, 11, 10, 3, 15, 8, 4, 1, 34,
    4, 2, 20, 19, 12, 9, 8, 6, 0, 14, 25, 2, 25, 4, 7),
  t2i = c(3699.57, 2673.06, 2755.52, 3257.75, 728.17, 4697.71, 1976.48, 142.54, 2488.98,
    1571.25, 1503.32, 235.94, 868.57, 1228.93, 3422.77, 2988.99, 4118.3, 2207.11, 4191.19,
    4539.29, 2244.29, 3940.97, 1419.9, 354.43, 4805.35, 3835.64, 302.24, 2084.05, 1998.5,
    2760.79, 4023.06, 4366.89, 2283.6, 416.85, 3211.89, 3445.28, 4955.35, 4041.43, 1155.43,
    2370.31))),
  # two maxima of the profile likelihood of tau: 0 (local) and 2.49 (global)
  list(id = "irr_umfs_two_maxima", measure = "IRR", model = "UM.FS", nAGQ = 10,
       ctrl = TIGHT_GLMER, data = list(x1i = c(0, 2, 0), t1i = c(60.89, 197.4, 164.15),
                                       x2i = c(9, 0, 9), t2i = c(128.81, 154.4, 193.25))),
  # large tau^2: the conditional modes of the integrand far in the tails
  list(id = "or_cmel_large_tau2", measure = "OR", model = "CM.EL", nAGQ = 7,
       ctrl = TIGHT_CMEL, data = list(ai = c(7, 0, 0), n1i = c(32, 24, 17), ci = c(5, 22, 34),
                                      n2i = c(8, 37, 40))))
cases <- lapply(glmm_cases, function(g) {
  fit <- do.call(rma.glmm, c(g$data, list(measure = g$measure, model = g$model, nAGQ = g$nAGQ,
                                          control = g$ctrl)))
  list(id = g$id, measure = g$measure, model = g$model, nAGQ = g$nAGQ, data = g$data,
       beta = num(fit$beta), se = num(fit$se), tau2 = num(fit$tau2),
       ll = num(logLik(fit)))
})
write_group("glmm_fuzz", cases, "rma.glmm(..., control = tight settings), as glmm_fixtures.R")

# rma.mv: t tests with containment df (each linear combination takes the smallest df of the
# coefficients it involves) and a deletion that removes an inner level's only effect
contain <- data.frame(
  yi = c(-0.304, -0.067, 0.237, 0.484, 0.477, 0.363, -0.785, -0.933, -0.0, 0.279, 0.555, -0.031, -0.982, 0.467, -0.365, -0.361, 0.137, -0.796),
  vi = c(0.021, 0.095, 0.027, 0.088, 0.049, 0.096, 0.052, 0.095, 0.064, 0.039, 0.079, 0.074, 0.075, 0.057, 0.038, 0.071, 0.029, 0.075),
  study = c(0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5),
  es = c(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17),
  x1 = c(-0.8, -1.32, -0.25, 0.42, 1.14, 0.11, -0.55, -0.78, 0.75, 1.63, 0.27, -1.23, -0.96, 1.6, 0.2, -1.73, -0.08, -1.16))
CTRL_MV <- list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000)
fc <- rma.mv(yi, vi, random = ~ 1 | study/es, mods = ~ x1, data = contain, dfs = "contain",
             test = "t", control = CTRL_MV)
a1 <- anova(fc, btt = 2)
a2 <- anova(fc, X = rbind(c(0, 1)))
pr1 <- predict(fc, newmods = rbind(c(0, 1)), intercept = FALSE)  # the slope alone: df 16
pr2 <- predict(fc, newmods = 0.5)  # intercept + 0.5 slope: df min(4, 16)
vanish <- data.frame(
  study = c(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8),
  outcome = c("o0", "o1", "o0", "o1", "o0", "o1", "o0", "o1", "o0", "o1", "o0", "o1", "o0", "o1", "o0", "o1", "o2"),
  yi = c(0.31, 0.708, 0.667, 0.147, 0.211, 0.142, 0.471, 0.283, 0.524, -0.254, 0.77, 0.271, 0.504, 0.259, 0.186, 0.439, 0.547),
  vi = c(0.061, 0.085, 0.064, 0.098, 0.036, 0.064, 0.059, 0.048, 0.067, 0.039, 0.084, 0.089, 0.03, 0.057, 0.042, 0.027, 0.092))
f_cs <- rma.mv(yi, vi, random = ~ outcome | study, struct = "CS", data = vanish,
               control = CTRL_MV)
f_un <- rma.mv(yi, vi, random = ~ outcome | study, struct = "UN", data = vanish,
               control = CTRL_MV)
rs_cs <- rstudent(f_cs)
rs_un <- suppressWarnings(rstudent(f_un))
write_group("mv_df_and_deletions", list(
  list(id = "contain", data = as.list(contain), ddf = num(fc$ddf), QMdf = num(fc$QMdf),
       anova_btt_F = num(a1$QM), anova_btt_df2 = num(a1$QMdf[2]), anova_btt_p = num(a1$QMp),
       anova_L_df2 = num(a2$QMdf[2]), anova_L_p = num(a2$QMp),
       pred = num(c(pr1$pred, pr2$pred)), ci_lb = num(c(pr1$ci.lb, pr2$ci.lb)),
       ci_ub = num(c(pr1$ci.ub, pr2$ci.ub))),
  list(id = "vanishing_level", data = as.list(vanish), cs_z = num(rs_cs$z),
       un_z = num(rs_un$z))),
  "rma.mv(..., dfs = 'contain'): anova(btt), anova(X = L), predict; rstudent() of CS and UN")

# selmodel: a beta model whose densities all sit in the weight's far tail, and a
# negative-exponential-power model on the ridge delta1 ~ 0
sel_a <- list(
  yi = c(0.5635, 0.2439, 0.693, 0.1846, 1.0077, 0.7389, 0.9304, 0.7263, 1.1994, 0.4002, 1.1577,
         0.6722, 0.1711, 0.6428, 0.7064, 0.5403, 0.9055, 0.565, 1.0214, 0.4992, 0.7178, 0.6069,
         0.7551, 0.3041, 0.1804, 0.512, 0.708, 1.1132, 0.4959, 0.4206, 0.3642, 0.2686, 0.6867,
         0.3843),
  vi = c(0.03054, 0.0276, 0.03625, 0.04521, 0.03355, 0.02516, 0.01848, 0.03273, 0.14974,
         0.05165, 0.01537, 0.02482, 0.11786, 0.02842, 0.0163, 0.01321, 0.07668, 0.01495,
         0.03846, 0.23535, 0.03381, 0.0203, 0.03256, 0.01165, 0.03592, 0.03058, 0.025,
         0.03884, 0.01974, 0.02053, 0.03133, 0.0147, 0.01262, 0.0205))
sa <- selmodel(rma(sel_a$yi, sel_a$vi, method = "ML"), type = "beta", alternative = "less",
               delta = c(NA, 0.5))
sel_b <- list(yi = c(-0.0853, 0.4326, -0.0169, -0.5789, 0.0546, -0.0487, 0.7117),
              vi = c(0.01637, 0.01641, 0.02613, 0.07886, 0.04702, 0.01702, 0.25925))
sb <- selmodel(rma(sel_b$yi, sel_b$vi, method = "ML"), type = "negexppow")
write_group("selmodel_fuzz", list(
  list(id = "beta_far_tail", yi = sel_a$yi, vi = sel_a$vi, beta = num(sa$beta),
       tau2 = num(sa$tau2), delta = num(sa$delta), ll = num(logLik(sa))),
  list(id = "negexppow_ridge", yi = sel_b$yi, vi = sel_b$vi, beta = num(sb$beta),
       tau2 = num(sb$tau2), delta = num(sb$delta), ll = num(logLik(sb)))),
  "selmodel(rma(yi, vi, method = 'ML'), type = 'beta' (alternative 'less', delta2 = 0.5) / 'negexppow')")
