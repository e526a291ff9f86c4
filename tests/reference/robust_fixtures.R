# Reference values for evsynth.vcalc, evsynth.impute_covariance, evsynth.robust and evsynth.robu
# (tests/effects/test_vcalc.py, tests/models/test_robust.py).
#
# Run from the repository root:  Rscript tests/reference/robust_fixtures.R
# Requires R with metafor (3.8), metadat, clubSandwich (0.5), robumeta (2.0) and jsonlite. Writes
#   tests/reference/robust/<group>.json
# Every case stores its inputs (data columns, model matrix, marginal covariance) so that the
# Python tests never need R, and the outputs at full precision.

source(file.path("tests", "reference", "fixture_helpers.R"))
suppressMessages(library(clubSandwich))
suppressMessages(library(robumeta))

out_dir <- fixture_dir("robust")

# sparse (i, j, value) triplets (1-based) of the nonzero entries of a matrix
trip <- function(V) {
  V <- as.matrix(V)
  idx <- which(V != 0, arr.ind = TRUE)
  list(i = as.integer(idx[, 1]), j = as.integer(idx[, 2]), x = as.numeric(V[idx]), n = nrow(V))
}
chr <- function(x) as.character(x)

# ---- vcalc -------------------------------------------------------------------------------------
vc <- list()

dat <- dat.assink2016
V <- vcalc(vi, cluster = study, obs = esid, data = dat, rho = 0.6)
vc[[length(vc) + 1]] <- list(name = "assink_obs_rho0.6", source = "metafor vcalc help, dat.assink2016",
  data = list(vi = dat$vi, cluster = dat$study, obs = dat$esid),
  args = list(rho = 0.6), V = trip(V))
V <- vcalc(vi, cluster = study, type = deltype, obs = esid, data = dat, rho = c(0.7, 0.5))
vc[[length(vc) + 1]] <- list(name = "assink_type_obs_rho0.7_0.5",
  source = "metafor vcalc help, dat.assink2016",
  data = list(vi = dat$vi, cluster = dat$study, obs = dat$esid, type = chr(dat$deltype)),
  args = list(rho = c(0.7, 0.5)), V = trip(V))
# a scalar within-type and a labelled between-type matrix: rho = list(scalar, matrix)
# (evsynth raised a numpy ValueError on this form; session 13 fuzz)
rho_type <- matrix(c(1, 0.3, 0.2, 0.3, 1, 0.4, 0.2, 0.4, 1), 3,
                   dimnames = list(c("general", "overt", "covert"),
                                   c("general", "overt", "covert")))
V <- vcalc(vi, cluster = study, type = deltype, obs = esid, data = dat,
           rho = list(0.5, rho_type))
vc[[length(vc) + 1]] <- list(name = "assink_type_obs_rho_scalar_matrix",
  source = "metafor vcalc help, dat.assink2016, rho = list(0.5, matrix)",
  data = list(vi = dat$vi, cluster = dat$study, obs = dat$esid, type = chr(dat$deltype)),
  args = list(rho_pair_scalar = 0.5, rho_pair_matrix = mat(rho_type),
              rho_pair_names = rownames(rho_type)), V = trip(V))

dat <- dat.ishak2007
dat <- reshape(dat, direction = "long", idvar = "study", v.names = c("yi", "vi"),
               varying = list(c(2, 4, 6, 8), c(3, 5, 7, 9)))
dat <- dat[order(dat$study, dat$time), ]
dat <- dat[!is.na(dat$yi), ]
V <- vcalc(vi, cluster = study, time1 = time, phi = 0.97, data = dat)
vc[[length(vc) + 1]] <- list(name = "ishak_ar_phi0.97", source = "metafor vcalc help, dat.ishak2007",
  data = list(vi = dat$vi, cluster = dat$study, time1 = dat$time),
  args = list(phi = 0.97), V = trip(V))
ishak <- dat

dat <- dat.kalaian1996
V <- vcalc(vi, cluster = study, type = outcome, data = dat, rho = 0.66)
vc[[length(vc) + 1]] <- list(name = "kalaian_type_rho0.66",
  source = "metafor vcalc help, dat.kalaian1996",
  data = list(vi = dat$vi, cluster = dat$study, type = dat$outcome),
  args = list(rho = 0.66), V = trip(V))

dat <- dat.berkey1998
V <- vcalc(vi = 1, cluster = author, rvars = c(v1i, v2i), data = dat)
vc[[length(vc) + 1]] <- list(name = "berkey_rvars", source = "metafor vcalc help, dat.berkey1998",
  data = list(vi = rep(1, nrow(dat)), cluster = dat$author, v1i = dat$v1i, v2i = dat$v2i),
  args = list(rvars = c("v1i", "v2i")), V = trip(V))
V <- vcalc(vi = vi, cluster = trial, type = outcome, data = dat, rho = 0.4)
vc[[length(vc) + 1]] <- list(name = "berkey_type_rho0.4", source = "metafor vcalc help, dat.berkey1998",
  data = list(vi = dat$vi, cluster = dat$trial, type = dat$outcome),
  args = list(rho = 0.4), V = trip(V))

dat <- dat.knapp2017
dat$task.diff <- unlist(lapply(split(dat, dat$study), function(x) {
  task.int <- as.integer(factor(x$task))
  diff.int <- as.integer(factor(x$difficulty))
  diff.int[is.na(diff.int)] <- 1
  paste0(task.int, ".", diff.int)}))
R <- matrix(0.4, nrow = 8, ncol = 8)
R[5:8, 1:4] <- R[1:4, 5:8] <- 0.28
diag(R[1:4, 5:8]) <- 0.7
diag(R[5:8, 1:4]) <- 0.7
diag(R) <- 1
rownames(R) <- colnames(R) <- paste0(rep(1:2, each = 4), ".", 1:4)
V <- vcalc(vi, cluster = study, grp1 = group1, grp2 = group2, w1 = n_sz, w2 = n_hc,
           obs = task.diff, rho = R, data = dat)
vc[[length(vc) + 1]] <- list(name = "knapp_groups_obsmatrix",
  source = "metafor vcalc help, dat.knapp2017",
  data = list(vi = dat$vi, cluster = dat$study, grp1 = dat$group1, grp2 = dat$group2,
              w1 = dat$n_sz, w2 = dat$n_hc, obs = dat$task.diff),
  args = list(rho_matrix = mat(R), rho_names = rownames(R)), V = trip(V))
V <- vcalc(vi, cluster = study, grp1 = group1, grp2 = group2, w1 = n_sz, w2 = n_hc, data = dat)
vc[[length(vc) + 1]] <- list(name = "knapp_groups_only", source = "dat.knapp2017, shared groups",
  data = list(vi = dat$vi, cluster = dat$study, grp1 = dat$group1, grp2 = dat$group2,
              w1 = dat$n_sz, w2 = dat$n_hc),
  args = list(), V = trip(V))

# time1/time2 with groups: made-up design (two groups measured at times 1-3)
set.seed(14)
tt <- data.frame(study = rep(1:3, c(4, 3, 5)))
tt$vi <- round(runif(nrow(tt), 0.01, 0.1), 4)
tt$time1 <- c(1, 2, 3, 1, 1, 2, 4, 1, 2, 3, 1, 2)
tt$time2 <- c(1, 2, 3, 2, 1, 2, 4, 1, 2, 3, 3, 1)
tt$grp1 <- c("T", "T", "T", "T", "A", "A", "B", "A", "A", "B", "B", "A")
tt$grp2 <- c("C", "C", "C", "C", "C", "C", "C", "C", "C", "C", "C", "B")
tt$w1 <- c(20, 20, 20, 20, 15, 15, 30, 12, 12, 14, 14, 12)
tt$w2 <- c(22, 22, 22, 22, 18, 18, 18, 11, 11, 11, 11, 14)
V <- vcalc(vi, cluster = study, time1 = time1, time2 = time2, grp1 = grp1, grp2 = grp2,
           w1 = w1, w2 = w2, phi = 0.8, data = tt, checkpd = FALSE)
vc[[length(vc) + 1]] <- list(name = "made_up_time_groups", source = "made-up design",
  data = as.list(tt[c("vi", "time1", "time2", "grp1", "grp2", "w1", "w2")]),
  cluster = tt$study, args = list(phi = 0.8), V = trip(V))
vc[[length(vc)]]$data$cluster <- tt$study

write_group("vcalc", vc)

# ---- impute_covariance_matrix ----------------------------------------------------------------
ic <- list()
dat <- dat.assink2016
V <- impute_covariance_matrix(dat$vi, cluster = dat$study, r = 0.6, return_list = FALSE)
ic[[length(ic) + 1]] <- list(name = "assink_r0.6", data = list(vi = dat$vi, cluster = dat$study),
  args = list(r = 0.6), V = trip(V))
V <- impute_covariance_matrix(dat$vi, cluster = dat$study, r = 0.6, smooth_vi = TRUE,
                              return_list = FALSE)
ic[[length(ic) + 1]] <- list(name = "assink_r0.6_smooth",
  data = list(vi = dat$vi, cluster = dat$study), args = list(r = 0.6, smooth_vi = TRUE),
  V = trip(V))
V <- impute_covariance_matrix(dat$vi, cluster = dat$study, r = 0.6, subgroup = dat$deltype,
                              return_list = FALSE)
ic[[length(ic) + 1]] <- list(name = "assink_r0.6_subgroup",
  data = list(vi = dat$vi, cluster = dat$study, subgroup = chr(dat$deltype)),
  args = list(r = 0.6), V = trip(V))
rr <- seq(0.2, 0.8, length.out = length(unique(dat$study)))
V <- impute_covariance_matrix(dat$vi, cluster = dat$study, r = rr, return_list = FALSE)
ic[[length(ic) + 1]] <- list(name = "assink_r_per_cluster",
  data = list(vi = dat$vi, cluster = dat$study), args = list(r = rr), V = trip(V))
# shuffled rows (the result is in the input order)
set.seed(3)
sh <- dat[sample(nrow(dat)), ]
V <- impute_covariance_matrix(sh$vi, cluster = sh$study, r = 0.5, return_list = FALSE)
ic[[length(ic) + 1]] <- list(name = "assink_shuffled_r0.5",
  data = list(vi = sh$vi, cluster = sh$study), args = list(r = 0.5), V = trip(V))
V <- impute_covariance_matrix(ishak$vi, cluster = ishak$study, ti = ishak$time, ar1 = 0.9,
                              return_list = FALSE)
ic[[length(ic) + 1]] <- list(name = "ishak_ar0.9",
  data = list(vi = ishak$vi, cluster = ishak$study, ti = ishak$time), args = list(ar1 = 0.9),
  V = trip(V))
V <- impute_covariance_matrix(ishak$vi, cluster = ishak$study, r = 0.3, ti = ishak$time,
                              ar1 = 0.9, return_list = FALSE)
ic[[length(ic) + 1]] <- list(name = "ishak_r0.3_ar0.9",
  data = list(vi = ishak$vi, cluster = ishak$study, ti = ishak$time),
  args = list(r = 0.3, ar1 = 0.9), V = trip(V))
write_group("impute_covariance", ic)

# ---- robust(): rma.uni and rma.mv fits -----------------------------------------------------------
rob_case <- function(fit, cluster, label, kind, dataset, mods) {
  out <- list()
  for (v in list(list(adjust = TRUE, cs = FALSE), list(adjust = FALSE, cs = FALSE),
                 list(adjust = TRUE, cs = TRUE))) {
    r <- robust(fit, cluster = cluster, adjust = v$adjust, clubSandwich = v$cs)
    p <- length(fit$beta)
    pr <- NULL
    if (p <= 2) {
      newmods <- if (p == 2) as.numeric(quantile(fit$X[, 2], c(0.1, 0.5, 0.9))) else NULL
      pp <- try(if (p == 2) predict(r, newmods = newmods) else predict(r), silent = TRUE)
      if (inherits(pp, "try-error")) {
        pr <- list(newmods = newmods, error = as.character(pp))
      } else {
        pr <- list(newmods = newmods, pred = num(pp$pred), se = num(pp$se),
                   ci_lb = num(pp$ci.lb), ci_ub = num(pp$ci.ub), pi_lb = num(pp$pi.lb),
                   pi_ub = num(pp$pi.ub))
      }
    }
    out[[length(out) + 1]] <- list(adjust = v$adjust, clubSandwich = v$cs, vbest = r$vbest,
      predict = pr,
      beta = num(r$beta), se = num(r$se), tval = num(r$zval), pval = num(r$pval),
      df = num(r$dfs), ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), vb = mat(r$vb),
      QM = num(r$QM), QMdf = num(r$QMdf), QMp = num(r$QMp), n = r$n)
  }
  # clubSandwich directly: CR0, CR1, CR2 and the tests
  cs <- list()
  for (type in c("CR0", "CR1", "CR2")) {
    vb <- vcovCR(fit, cluster = cluster, type = type)
    ct <- coef_test(fit, vcov = vb, test = "Satterthwaite")
    cs[[type]] <- list(vcov = mat(as.matrix(vb)), df = num(ct$df_Satt), p = num(ct$p_Satt),
                       se = num(ct$SE))
  }
  vb2 <- vcovCR(fit, cluster = cluster, type = "CR2")
  p <- length(fit$beta)
  wald <- list()
  cons <- list()
  if (p > 1) {
    cons[["btt"]] <- fit$btt
    cons[["first"]] <- 1L
    cons[["last"]] <- p
    if (p > 2) cons[["first_two"]] <- 1:2
  }
  for (nm in names(cons)) {
    w <- Wald_test(fit, constraints = constrain_zero(cons[[nm]]), vcov = vb2, test = "HTZ")
    wald[[length(wald) + 1]] <- list(coefs = as.integer(cons[[nm]]), Fstat = w$Fstat,
      df_num = w$df_num, df_denom = w$df_denom, p_val = w$p_val, delta = w$delta)
  }
  case <- list(name = label, kind = kind, dataset = dataset, mods = mods,
    yi = num(fit$yi), X = mat(fit$X), coef_names = colnames(fit$X), cluster = chr(cluster),
    beta = num(fit$beta), btt = as.integer(fit$btt), level = 95,
    robust = out, clubSandwich = cs, wald = wald)
  if (kind == "uni") {
    case$vi <- num(fit$vi)
    case$tau2 <- fit$tau2
    case$weighted <- fit$weighted
    case$user_weights <- num(fit$weights)
  } else {
    case$M <- trip(fit$M)
    case$sigma2 <- num(fit$sigma2)
  }
  case
}

rb <- list()
dat <- dat.konstantopoulos2011
fit <- rma(yi, vi, data = dat, control = CTRL)
rb[[length(rb) + 1]] <- rob_case(fit, dat$district, "konst_uni_int", "uni", "dat.konstantopoulos2011", NULL)
fit <- rma(yi, vi, mods = ~ year, data = dat, control = CTRL)
rb[[length(rb) + 1]] <- rob_case(fit, dat$district, "konst_uni_year", "uni", "dat.konstantopoulos2011", "year")
fit <- rma.mv(yi, vi, random = ~ 1 | district/school, data = dat, control = list(rel.tol = 1e-12))
rb[[length(rb) + 1]] <- rob_case(fit, dat$district, "konst_mv_int", "mv", "dat.konstantopoulos2011", NULL)
fit <- rma.mv(yi, vi, mods = ~ I(year - 1990), random = ~ 1 | district/school, data = dat,
              control = list(rel.tol = 1e-12))
rb[[length(rb) + 1]] <- rob_case(fit, dat$district, "konst_mv_year", "mv", "dat.konstantopoulos2011", "year")

dat <- dat.assink2016
fit <- rma(yi, vi, mods = ~ factor(deltype) + year, data = dat, control = CTRL)
rb[[length(rb) + 1]] <- rob_case(fit, dat$study, "assink_uni_deltype_year", "uni", "dat.assink2016",
                                 "factor(deltype) + year")
V <- vcalc(vi, cluster = study, obs = esid, data = dat, rho = 0.6)
fit <- rma.mv(yi, V, mods = ~ factor(deltype), random = ~ 1 | study/esid, data = dat,
              control = list(rel.tol = 1e-12))
rb[[length(rb) + 1]] <- rob_case(fit, dat$study, "assink_mv_vcalc_deltype", "mv", "dat.assink2016",
                                 "factor(deltype)")

# user weights and unweighted fits (clubSandwich's non-inverse-variance CR2)
fit <- rma(yi, vi, mods = ~ factor(deltype) + year, weights = 1 / sqrt(vi), data = dat,
           control = CTRL)
rb[[length(rb) + 1]] <- rob_case(fit, dat$study, "assink_uni_userweights", "uni", "dat.assink2016",
                                 "factor(deltype) + year")
dat <- dat.konstantopoulos2011
fit <- rma(yi, vi, mods = ~ year, weighted = FALSE, data = dat, control = CTRL)
rb[[length(rb) + 1]] <- rob_case(fit, dat$district, "konst_uni_unweighted", "uni",
                                 "dat.konstantopoulos2011", "year")
dat <- dat.bangertdrowns2004
dat <- dat[!is.na(dat$grade) & !is.na(dat$length), ]
fit <- rma(yi, vi, mods = ~ length, data = dat, control = CTRL)
rb[[length(rb) + 1]] <- rob_case(fit, dat$grade, "bangert_uni_length_by_grade", "uni",
                                 "dat.bangertdrowns2004 (clusters: grade)", "length")
write_group("robust", rb)

# ---- robumeta ------------------------------------------------------------------------------------
rm_case <- function(formula, d, modelweights, rho, small, label) {
  r <- robu(formula, data = d, studynum = studyid, var.eff.size = var,
            modelweights = modelweights, rho = rho, small = small)
  X <- model.matrix(formula, d)
  htz <- NULL
  if (small && ncol(X) > 2) {
    # clubSandwich on the robu fit: CR2 with robumeta's working model, HTZ for all slopes
    w <- Wald_test(r, constraints = constrain_zero(2:ncol(X)), vcov = "CR2", test = "HTZ")
    htz <- list(coefs = 2:ncol(X), Fstat = w$Fstat, df_num = w$df_num, df_denom = w$df_denom,
                p_val = w$p_val)
  }
  list(name = label, htz = htz, model = modelweights, rho = rho, small = small,
    yi = num(d$effectsize), vi = num(d$var), cluster = num(d$studyid), X = mat(X),
    coef_names = colnames(X),
    beta = num(r$reg_table$b.r), se = num(r$reg_table$SE), t = num(r$reg_table$t),
    df = num(r$reg_table$dfs), p = num(r$reg_table$prob), ci_lb = num(r$reg_table$CI.L),
    ci_ub = num(r$reg_table$CI.U), tau2 = num(r$mod_info$tau.sq),
    omega2 = num(r$mod_info$omega.sq), I2 = num(r$mod_info$I.2), vb = mat(r$VR.r))
}
ro <- list()
data(hierdat)
data(corrdat)
fh <- effectsize ~ binge + followup + sreport + age
fc <- effectsize ~ males + college + binge
for (small in c(TRUE, FALSE)) {
  ro[[length(ro) + 1]] <- rm_case(fh, hierdat, "HIER", 0.8, small, paste0("hierdat_HIER_small", small))
  ro[[length(ro) + 1]] <- rm_case(effectsize ~ 1, hierdat, "HIER", 0.8, small,
                                  paste0("hierdat_HIER_int_small", small))
  ro[[length(ro) + 1]] <- rm_case(fc, corrdat, "CORR", 0.8, small, paste0("corrdat_CORR_small", small))
  ro[[length(ro) + 1]] <- rm_case(effectsize ~ 1, corrdat, "CORR", 0.8, small,
                                  paste0("corrdat_CORR_int_small", small))
}
ro[[length(ro) + 1]] <- rm_case(fc, corrdat, "CORR", 0.5, TRUE, "corrdat_CORR_rho0.5")
ro[[length(ro) + 1]] <- rm_case(fh, hierdat, "CORR", 0.2, TRUE, "hierdat_CORR_rho0.2")
ro[[length(ro) + 1]] <- rm_case(fc, corrdat, "HIER", 0.8, TRUE, "corrdat_HIER")
write_group("robumeta", ro, note = paste("robumeta", packageVersion("robumeta"), "clubSandwich",
                                         packageVersion("clubSandwich")))
