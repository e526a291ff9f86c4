# Reference values for the residual funnel plot of a meta-regression (metafor funnel.rma with
# moderators: rstandard residuals against their standard errors around 0) and metafor's
# rstandard.rma.uni, for tests/reports/test_funnel_residuals.py.
#
# Run from the repository root:  Rscript tests/reference/funnel_fixtures.R
# Writes tests/reference/rma/funnel_residuals.json; the Python tests never need R.

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("rma")
pdf(NULL)

bcg <- read.csv(file.path(data_dir, "rma_bcg.csv"), stringsAsFactors = FALSE)
rau <- read.csv(file.path(data_dir, "rma_raudenbush.csv"), stringsAsFactors = FALSE)

cases <- list()
specs <- list(
  list(id = "bcg_ablat_REML_z", data = "rma_bcg.csv", d = bcg, mods = "~ ablat",
       method = "REML", test = "z"),
  list(id = "bcg_ablat_REML_knha", data = "rma_bcg.csv", d = bcg, mods = "~ ablat",
       method = "REML", test = "knha"),
  list(id = "bcg_ablat_year_DL_z", data = "rma_bcg.csv", d = bcg, mods = "~ ablat + year",
       method = "DL", test = "z"),
  list(id = "bcg_ablat_FE_z", data = "rma_bcg.csv", d = bcg, mods = "~ ablat",
       method = "FE", test = "z"),
  list(id = "raudenbush_weeks_ML_z", data = "rma_raudenbush.csv", d = rau, mods = "~ weeks",
       method = "ML", test = "z")
)
for (s in specs) {
  res <- rma(yi, vi, mods = as.formula(s$mods), data = s$d, method = s$method, test = s$test,
             control = CTRL)
  rs <- rstandard(res)
  fp <- funnel(res)
  cases[[length(cases) + 1]] <- list(
    id = s$id, dataset = s$data, mods = s$mods, method = s$method, test = s$test,
    rstandard = list(resid = num(rs$resid), se = num(rs$se), z = num(rs$z)),
    funnel = list(x = num(fp$x), y = num(fp$y)))
}
write_group("funnel_residuals", cases,
            note = "funnel.rma of a model with moderators: x = rstandard residuals, y = their SEs")
