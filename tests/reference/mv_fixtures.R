# Reference values for evsynth.meta_mv (tests/models/test_meta_mv_reference.py).
#
# Run from the repository root:  Rscript tests/reference/mv_fixtures.R
# Requires R with metafor (>= 3.8), metadat and jsonlite. Writes
#   tests/reference/mv/data_<name>.csv   (the long-format data used)
#   tests/reference/mv/V_<name>.json     (sampling covariance matrices)
#   tests/reference/mv/<group>.json      (a list of cases per file)
# metafor is run tight: nlminb with eval.max/iter.max 10000, rel.tol 1e-12 (control optimizer
# settings), so that the estimates are accurate to ~1e-8.

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("mv")

MVCTRL <- list(rel.tol = 1e-12, eval.max = 10000, iter.max = 10000)
# nlminb often stops with "false convergence" at rel.tol = 1e-12: then retry looser, and record the
# control actually used (the tests' tolerances allow for it)
CTRLS <- list(MVCTRL, list(rel.tol = 1e-11, eval.max = 10000, iter.max = 10000),
              list(rel.tol = 1e-10, eval.max = 10000, iter.max = 10000),
              list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000),
              list())
fit_mv <- function(...) {
  err <- NULL
  for (ctrl in CTRLS) {
    r <- capture(rma.mv(..., control = ctrl))
    if (is.null(r$error)) { r$control <- ctrl; return(r) }
    if (is.null(err)) err <- r$error
    if (!grepl("converge", r$error)) break
  }
  r
}
mv <- function(...) fit_mv(...)$value

# ---- datasets --------------------------------------------------------------------------------
konst <- dat.konstantopoulos2011
konst$year_c <- konst$year - mean(konst$year)
write.csv(konst[, c("district", "school", "study", "year", "year_c", "yi", "vi")],
          file.path(out_dir, "data_konst.csv"), row.names = FALSE)

berkey <- dat.berkey1998
V_berkey <- bldiag(lapply(split(berkey[, c("v1i", "v2i")], berkey$trial), as.matrix))
berkey$year_c <- berkey$year - 1983
write.csv(berkey[, c("trial", "author", "year", "year_c", "outcome", "yi", "vi")],
          file.path(out_dir, "data_berkey.csv"), row.names = FALSE)
write_json(mat(V_berkey), file.path(out_dir, "V_berkey.json"), digits = NA)

ishak <- reshape(dat.ishak2007, direction = "long", idvar = "study", v.names = c("yi", "vi"),
                 varying = list(c(2, 4, 6, 8), c(3, 5, 7, 9)))
ishak <- ishak[order(ishak$study, ishak$time), ]
ishak <- ishak[!is.na(ishak$yi), ]
rownames(ishak) <- NULL
ishak$months <- c(3, 6, 12, 24)[ishak$time]
write.csv(ishak[, c("study", "time", "months", "mdur", "mbase", "yi", "vi")],
          file.path(out_dir, "data_ishak.csv"), row.names = FALSE)
# autocorrelated sampling errors (phi = 0.97), as in metadat's dat.ishak2007 example
V_ishak <- vcalc(vi, cluster = study, time1 = time, phi = 0.97, data = ishak)
write_json(mat(V_ishak), file.path(out_dir, "V_ishak.json"), digits = NA)

# a known correlation matrix over the 11 districts (AR(1), rho = 0.6, in sorted level order)
lev <- sort(unique(konst$district))
Rd <- 0.6^abs(outer(seq_along(lev), seq_along(lev), "-"))
dimnames(Rd) <- list(as.character(lev), as.character(lev))
write_json(mat(Rd), file.path(out_dir, "R_district.json"), digits = NA)

datasets <- list(konst = konst, berkey = berkey, ishak = ishak)
Vs <- list(konst = NULL, berkey = V_berkey, ishak = V_ishak)

# ---- one case ---------------------------------------------------------------------------------
run_case <- function(name, data, args, py, extra = NULL) {
  d <- datasets[[data]]
  V <- if (is.null(Vs[[data]])) d$vi else Vs[[data]]
  call <- c(list(yi = d$yi, V = V, data = d), args)
  r <- do.call(fit_mv, call)
  out <- list(name = name, data = data, py = py, warnings = r$warnings, control = r$control)
  if (!is.null(r$error)) {
    out$status <- "error"; out$error <- r$error
    return(out)
  }
  res <- r$value
  out$status <- "ok"
  out$beta <- num(res$beta); out$se <- num(res$se); out$zval <- num(res$zval)
  out$pval <- num(res$pval); out$ci_lb <- num(res$ci.lb); out$ci_ub <- num(res$ci.ub)
  out$vb <- mat(res$vb)
  out$sigma2 <- num(res$sigma2); out$tau2 <- num(res$tau2); out$rho <- num(res$rho)
  out$gamma2 <- num(res$gamma2); out$phi <- num(res$phi)
  out$QE <- res$QE; out$QEp <- res$QEp; out$QM <- res$QM; out$QMp <- res$QMp
  out$ddf <- num(res$ddf)
  fs <- fitstats(res)
  out$ll <- num(fs[1]); out$dev <- num(fs[2]); out$AIC <- num(fs[3]); out$BIC <- num(fs[4])
  out$AICc <- num(fs[5]); out$parms <- res$parms
  out$s_nlevels <- num(res$s.nlevels)
  out$fitted <- num(fitted(res))
  rs <- rstandard(res)
  out$resid <- num(rs$resid); out$rstandard <- num(rs$z); out$rstandard_se <- num(rs$se)
  out$hat <- num(hatvalues(res))
  if (!is.null(extra)) out <- c(out, extra(res, d))
  out
}

ranef_out <- function(res, d) {
  re <- ranef(res)
  lapply(re, function(x) list(levels = rownames(x), intrcpt = num(x$intrcpt), se = num(x$se),
                              pi_lb = num(x$pi.lb), pi_ub = num(x$pi.ub)))
}

extra_full <- function(res, d) {
  ci <- confint(res, control = list(vc.min = 0, tol = 1e-10))
  cis <- if (!is.null(ci$random)) list(ci) else Filter(function(x) is.list(x) && !is.null(x$random), ci)
  cis <- lapply(cis, function(x) list(rows = rownames(x$random), est = num(x$random[, 1]),
                                      lb = num(x$random[, 2]), ub = num(x$random[, 3])))
  pr <- predict(res)
  list(ranef = ranef_out(res, d), confint = cis,
       predict = list(pred = num(pr$pred), se = num(pr$se), ci_lb = num(pr$ci.lb),
                      ci_ub = num(pr$ci.ub), pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub)),
       cooks = num(cooks.distance(res)), dfbetas = mat(dfbetas(res)),
       rstudent = list(resid = num(rstudent(res)$resid), se = num(rstudent(res)$se)))
}

cases_k <- list(
  run_case("konst_reml", "konst", list(random = ~ 1 | district/school),
           list(random = "~ 1 | district/school"), extra_full),
  run_case("konst_ml", "konst", list(random = ~ 1 | district/school, method = "ML"),
           list(random = "~ 1 | district/school", method = "ML")),
  run_case("konst_year", "konst", list(random = ~ 1 | district/school, mods = ~ year_c),
           list(random = "~ 1 | district/school", mods = "~ year_c")),
  run_case("konst_year_t", "konst", list(random = ~ 1 | district/school, mods = ~ year_c,
                                           test = "t"),
           list(random = "~ 1 | district/school", mods = "~ year_c", test = "t")),
  run_case("konst_year_contain", "konst", list(random = ~ 1 | district/school, mods = ~ year_c,
                                                 dfs = "contain"),
           list(random = "~ 1 | district/school", mods = "~ year_c", dfs = "contain")),
  run_case("konst_fixed_sigma2", "konst", list(random = ~ 1 | district/school,
                                                 sigma2 = c(NA, 0.01)),
           list(random = "~ 1 | district/school", sigma2 = list(NULL, 0.01))),
  run_case("konst_all_fixed", "konst", list(random = ~ 1 | district/school,
                                              sigma2 = c(0.05, 0.02)),
           list(random = "~ 1 | district/school", sigma2 = list(0.05, 0.02))),
  run_case("konst_two_terms", "konst", list(random = list(~ 1 | district, ~ 1 | study)),
           list(random = list("~ 1 | district", "~ 1 | study"))),
  run_case("konst_one_level", "konst", list(random = ~ 1 | district, method = "ML"),
           list(random = "~ 1 | district", method = "ML")),
  run_case("konst_R", "konst", list(random = list(~ 1 | district, ~ 1 | study),
                                      R = list(district = Rd)),
           list(random = list("~ 1 | district", "~ 1 | study"), R = "district")),
  run_case("konst_no_random", "konst", list(mods = ~ year_c),
           list(mods = "~ year_c")),
  run_case("konst_cs_term", "konst", list(random = ~ factor(school) | district, struct = "ID"),
           list(random = "~ school | district", struct = "ID"))
)
write_group("konstantopoulos", cases_k,
            note = "dat.konstantopoulos2011 (Konstantopoulos 2011, Res Synth Methods 2:61-76)")

structs <- c("CS", "HCS", "UN", "ID", "DIAG")
cases_b <- list()
for (s in structs) for (m in c("REML", "ML")) {
  cases_b[[length(cases_b) + 1]] <- run_case(
    paste0("berkey_", s, "_", m), "berkey",
    list(mods = ~ outcome - 1, random = ~ outcome | trial, struct = s, method = m),
    list(mods = "~ 0 + outcome", random = "~ outcome | trial", struct = s, method = m),
    if (s == "UN" && m == "REML") extra_full else NULL)
}
cases_b[[length(cases_b) + 1]] <- run_case(
  "berkey_UN_year", "berkey",
  list(mods = ~ outcome + outcome:year_c - 1, random = ~ outcome | trial, struct = "UN"),
  list(mods = "~ 0 + outcome + outcome:year_c", random = "~ outcome | trial", struct = "UN"))
cases_b[[length(cases_b) + 1]] <- run_case(
  "berkey_CS_contain", "berkey",
  list(mods = ~ outcome, random = ~ outcome | trial, struct = "CS", dfs = "contain"),
  list(mods = "~ outcome", random = "~ outcome | trial", struct = "CS", dfs = "contain"))
cases_b[[length(cases_b) + 1]] <- run_case(
  "berkey_UN_rho_fixed", "berkey",
  list(mods = ~ outcome - 1, random = ~ outcome | trial, struct = "UN", rho = 0.5),
  list(mods = "~ 0 + outcome", random = "~ outcome | trial", struct = "UN", rho = 0.5))
cases_b[[length(cases_b) + 1]] <- run_case(
  "berkey_HCS_tau2_fixed", "berkey",
  list(mods = ~ outcome - 1, random = ~ outcome | trial, struct = "HCS", tau2 = c(NA, 0.01)),
  list(mods = "~ 0 + outcome", random = "~ outcome | trial", struct = "HCS",
       tau2 = list(NULL, 0.01)))
write_group("berkey", cases_b, note = "dat.berkey1998 (Berkey et al. 1998, Stat Med 17:2537)")

cases_i <- list()
for (s in c("AR", "HAR", "CS", "HCS", "ID", "DIAG")) {
  args <- list(mods = ~ factor(time) - 1, random = ~ time | study, struct = s)
  cases_i[[length(cases_i) + 1]] <- run_case(
    paste0("ishak_", s), "ishak", args,
    list(mods = "~ 0 + C(time)", random = "~ time | study", struct = s),
    if (s == "AR") extra_full else NULL)
}
cases_i[[length(cases_i) + 1]] <- run_case(
  "ishak_CAR", "ishak",
  list(mods = ~ factor(time) - 1, random = ~ months | study, struct = "CAR"),
  list(mods = "~ 0 + C(time)", random = "~ months | study", struct = "CAR"))
cases_i[[length(cases_i) + 1]] <- run_case(
  "ishak_AR_ML_mods", "ishak",
  list(mods = ~ factor(time) + mdur - 1, random = ~ time | study, struct = "AR", method = "ML"),
  list(mods = "~ 0 + C(time) + mdur", random = "~ time | study", struct = "AR", method = "ML"))
cases_i[[length(cases_i) + 1]] <- run_case(
  "ishak_AR_plus_study", "ishak",
  list(mods = ~ factor(time) - 1, random = list(~ 1 | study, ~ time | study), struct = "AR"),
  list(mods = "~ 0 + C(time)", random = list("~ 1 | study", "~ time | study"), struct = "AR"))
cases_i[[length(cases_i) + 1]] <- run_case(
  "ishak_two_struct", "ishak",
  list(mods = ~ factor(time) - 1, random = list(~ time | study, ~ time | mdur),
       struct = c("AR", "ID")),
  list(mods = "~ 0 + C(time)", random = list("~ time | study", "~ time | mdur"),
       struct = list("AR", "ID")))
write_group("ishak", cases_i, note = "dat.ishak2007 (Ishak et al. 2007, Clin Trials 4:525)")

# ---- I^2 of the multilevel model (metafor FAQ, Nakagawa & Santos 2012) ------------------------
res <- mv(konst$yi, konst$vi, random = ~ 1 | district/school, data = konst)
W <- diag(1 / konst$vi)
X <- cbind(rep(1, res$k))
P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
typ <- (res$k - res$p) / sum(diag(P))
I2 <- 100 * res$sigma2 / (sum(res$sigma2) + typ)
write_group("i2", list(list(name = "konst_i2", typical = typ, I2_total = sum(I2),
                            I2 = num(I2))),
            note = "metafor FAQ: I^2 for multilevel and multivariate models")

# ---- profile likelihood over sigma2 (fixed values) and the LRT ------------------------------
full <- mv(konst$yi, konst$vi, random = ~ 1 | district/school, data = konst)
red <- mv(konst$yi, konst$vi, random = ~ 1 | district/school, data = konst, sigma2 = c(0, NA))
a <- anova(full, red)
grid <- c(0.01, 0.05, 0.1, 0.2)
prof <- sapply(grid, function(s) logLik(mv(konst$yi, konst$vi, random = ~ 1 | district/school,
                                             data = konst, sigma2 = c(s, NA))))
fullm <- mv(konst$yi, konst$vi, random = ~ 1 | district/school, mods = ~ year_c, data = konst)
aw <- anova(fullm, X = rbind(c(1, 0), c(1, 10)))
write_group("anova", list(list(name = "konst_lrt", LRT = a$LRT, pval = a$pval,
                               ll_full = a$fit.stats.f[["ll"]], ll_reduced = a$fit.stats.r[["ll"]],
                               df = a$parms.f - a$parms.r,
                               profile_grid = grid, profile_ll = num(prof),
                               wald_QM = aw$QM, wald_QMp = aw$QMp, wald_Xb = num(aw$Xb),
                               wald_se = num(aw$se))),
            note = "anova.rma (LRT of nested fits, Wald with contrasts), profile log-likelihood")

# ---- cluster-level deletion diagnostics (cooks.distance / dfbetas with cluster = trial) --------
rb <- rma.mv(yi, V_berkey, mods = ~ outcome - 1, random = ~ outcome | trial, struct = "UN",
             data = berkey)  # default control: its refits fail at rel.tol 1e-12
write_group("cluster", list(list(name = "berkey_UN_cluster_trial",
                                 cooks = num(cooks.distance(rb, cluster = berkey$trial)),
                                 dfbetas = mat(dfbetas(rb, cluster = berkey$trial)))),
            note = "cooks.distance.rma.mv / dfbetas.rma.mv with cluster = trial (dat.berkey1998)")
