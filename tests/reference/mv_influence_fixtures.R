# Reference values for rstudent(cluster=, reestimate=) of evsynth.meta_mv fits
# (tests/models/test_meta_mv_influence.py): metafor 3.8 rstudent.rma.mv.
#
# metafor 3.8 has no influence.rma.mv (methods(class = "rma.mv"): confint, cooks.distance,
# dfbetas, hatvalues, print, profile, qqnorm, ranef, robust, rstandard, rstudent, weights), so
# there is none to reproduce. Run from the repository root (after mv_fixtures.R, whose data files
# it reads):  Rscript tests/reference/mv_influence_fixtures.R
# Writes tests/reference/mv/influence.json.

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("mv")
# rel.tol = 1e-10: at 1e-12 nlminb reports false convergence in several deletion refits (which
# rstudent.rma.mv then returns as NA); the deletion refits inherit the fit's control
# (the reestimate = FALSE cases, whose refits estimate nothing, use a fit at rel.tol = 1e-12)
MVCTRL <- list(rel.tol = 1e-10, eval.max = 10000, iter.max = 10000)
TIGHT <- list(rel.tol = 1e-12, eval.max = 10000, iter.max = 10000)

berkey <- read.csv(file.path(out_dir, "data_berkey.csv"))
V_berkey <- as.matrix(fromJSON(file.path(out_dir, "V_berkey.json")))
konst <- read.csv(file.path(out_dir, "data_konst.csv"))

rs_case <- function(name, res, cluster, py, reestimate = TRUE) {
  r <- if (is.null(cluster)) rstudent(res, reestimate = reestimate)
       else rstudent(res, cluster = cluster, reestimate = reestimate)
  out <- list(name = name, py = py, reestimate = reestimate, beta = num(res$beta),
              sigma2 = num(res$sigma2), tau2 = num(res$tau2), rho = num(res$rho))
  if (is.null(cluster)) {
    out$resid <- num(r$resid); out$se <- num(r$se); out$z <- num(r$z)
  } else {
    out$cluster_col <- py$cluster
    out$resid <- num(r$obs$resid); out$se <- num(r$obs$se); out$z <- num(r$obs$z)
    out$X2 <- num(r$cluster$X2); out$k <- num(r$cluster$k)
    out$slab <- as.character(r$cluster$slab)
  }
  out
}

cases <- list()
res <- rma.mv(yi, V_berkey, mods = ~ 0 + outcome, random = ~ outcome | trial, struct = "UN",
              data = berkey, control = MVCTRL)
py <- list(data = "berkey", mods = "~ 0 + outcome", random = "~ outcome | trial",
           struct = "UN", cluster = "trial")
cases[[1]] <- rs_case("berkey_un_trial", res, berkey$trial, py)
res <- update(res, control = TIGHT)
cases[[2]] <- rs_case("berkey_un_trial_fixed", res, berkey$trial, py, reestimate = FALSE)

res <- rma.mv(yi, vi, random = ~ 1 | district/school, data = konst, control = MVCTRL)
py <- list(data = "konst", random = "~ 1 | district/school", cluster = "district")
cases[[3]] <- rs_case("konst_3l_district", res, konst$district, py)
res <- update(res, control = TIGHT)
cases[[4]] <- rs_case("konst_3l_district_fixed", res, konst$district, py, reestimate = FALSE)
py$cluster <- NULL
cases[[5]] <- rs_case("konst_3l_obs_fixed", res, NULL, py, reestimate = FALSE)

res <- rma.mv(yi, vi, mods = ~ year_c, random = ~ 1 | district/school, data = konst,
              control = MVCTRL)
py <- list(data = "konst", mods = "~ year_c", random = "~ 1 | district/school",
           cluster = "district")
cases[[6]] <- rs_case("konst_3l_year_district", res, konst$district, py)

write_group("influence", cases, note = "rstudent.rma.mv with cluster / reestimate (metafor 3.8)")
