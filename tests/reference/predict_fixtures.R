# Reference values for MetaResult.predict(newmods=...) and for the per-subgroup results of
# meta(..., subgroup=, subgroup_tau2="common") (tests/models/test_trust_models.py).
#
# Run from the repository root:  Rscript tests/reference/predict_fixtures.R
# Requires R with metafor (>= 3.8) and jsonlite. Reads tests/reference/data/rma_bcg.csv (written
# by rma_fixtures.R) and writes
#   tests/reference/rma/predict_newmods.json    (one case per model x newmods shape)
#   tests/reference/rma/subgroups_common.json   (~ 0 + factor(alloc) per level, every method/test)
# The Python tests read these files only; they never need R.
#
# metafor's predict.rma rule for 'newmods' (3.8-1, source of predict.rma):
#   * a model with one moderator (p = 1 without, p = 2 with an intercept): every element of
#     newmods is one prediction (k.new <- length(newmods); X.new <- cbind(c(newmods))), so a
#     vector, an n x 1 column, a 1 x n row and any matrix are all flattened (column-major);
#   * p > 1 moderators: a vector (or a 1-row matrix) is one row; a matrix is one row per
#     prediction; columns with names are matched to the model's moderators by name;
#   * the intercept column is never part of newmods: predict adds 1 (intercept = TRUE, the
#     default for models with an intercept) or 0 (intercept = FALSE); any other number of
#     columns is the error "Dimensions of 'newmods' (.) do not the match dimensions of the model";
#   * an intercept-only model refuses newmods.
# evsynth follows this, except where metafor flattens a matrix with more than one column for a
# one-moderator model (a 1 x n row or an n x 2 matrix, which could also be read as rows of
# [intercept, moderator]): evsynth raises InputError there. Such cases are recorded with
# evsynth = "InputError" and metafor's output, to document the difference.
#
# No-intercept models use method "FE" (tau^2 = 0) or a subgroup factor: metafor 3.8.1 centres yi
# for the tau^2 estimators of no-intercept models (see rma_fixtures.R), which does not matter when
# the columns span the intercept (a full set of factor dummies) or when tau^2 = 0.

source(file.path("tests", "reference", "fixture_helpers.R"))

out_dir <- fixture_dir("rma")
bcg <- read.csv(file.path(data_dir, "rma_bcg.csv"), stringsAsFactors = FALSE)

pred_fields <- function(pr) {
  list(pred = num(pr$pred), se = num(pr$se), ci_lb = num(pr$ci.lb), ci_ub = num(pr$ci.ub),
       pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub))
}

# models: R call and the Python spelling (formula, or moderator columns passed as an array or a
# DataFrame, with or without an intercept)
models <- list(
  int_only = list(fit = function(m, tt) rma(yi, vi, data = bcg, method = m, test = tt,
                                            control = CTRL),
                  py = list(kind = "none")),
  ablat = list(fit = function(m, tt) rma(yi, vi, mods = ~ ablat, data = bcg, method = m,
                                         test = tt, control = CTRL),
               py = list(kind = "formula", mods = "~ ablat")),
  ablat_cols = list(fit = function(m, tt) rma(yi, vi, mods = cbind(ablat = bcg$ablat),
                                              data = bcg, method = m, test = tt, control = CTRL),
                    py = list(kind = "array", columns = list("ablat"), intercept = TRUE)),
  ablat_year = list(fit = function(m, tt) rma(yi, vi, mods = ~ ablat + year, data = bcg,
                                              method = m, test = tt, control = CTRL),
                    py = list(kind = "formula", mods = "~ ablat + year")),
  ablat_year_frame = list(fit = function(m, tt) rma(yi, vi, mods = cbind(ablat = bcg$ablat,
                                                                         year = bcg$year),
                                                    data = bcg, method = m, test = tt, control = CTRL),
                          py = list(kind = "frame", columns = list("ablat", "year"),
                                    intercept = TRUE)),
  noint_ablat = list(fit = function(m, tt) rma(yi, vi, mods = cbind(ablat = bcg$ablat),
                                               intercept = FALSE, data = bcg, method = m,
                                               test = tt, control = CTRL),
                     py = list(kind = "array", columns = list("ablat"), intercept = FALSE)),
  noint_ablat_year = list(fit = function(m, tt) rma(yi, vi, mods = ~ ablat + year - 1,
                                                    data = bcg, method = m, test = tt,
                                                    control = CTRL),
                          py = list(kind = "formula", mods = "~ ablat + year - 1")),
  alloc_cell = list(fit = function(m, tt) rma(yi, vi, mods = ~ 0 + factor(alloc), data = bcg,
                                              method = m, test = tt, control = CTRL),
                    py = list(kind = "formula", mods = "~ 0 + C(alloc)")),
  ablat_alloc = list(fit = function(m, tt) rma(yi, vi, mods = ~ ablat + factor(alloc),
                                               data = bcg, method = m, test = tt,
                                               control = CTRL),
                     py = list(kind = "formula", mods = "~ ablat + C(alloc)"))
)

# one case: model, method, test, the newmods given to metafor (r) and to evsynth (py, with its
# shape: scalar, vector, matrix, frame, dict), intercept, and what evsynth must do
case <- function(id, model, r, py, method = "REML", test = "z", intercept = NULL,
                 evsynth = "match", why = NULL) {
  list(id = id, model = model, method = method, test = test, r = r, py = py,
       intercept = intercept, evsynth = evsynth, why = why)
}
vec <- function(x) list(shape = "vector", value = as.list(x))
sca <- function(x) list(shape = "scalar", value = x)
mtx <- function(x) list(shape = "matrix", value = mat(x))
frm <- function(...) list(shape = "frame", value = list(...))
dct <- function(...) list(shape = "dict", value = list(...))

three <- c(10, 30, 50)
two_rows <- rbind(c(10, 1950), c(50, 1980))
three_rows <- rbind(c(10, 1950), c(30, 1970), c(50, 1980))
alloc_dummies <- rbind(c(10, 0, 0), c(30, 1, 0), c(50, 0, 1))
specs <- list(
  # one moderator: one prediction per value
  case("ablat_scalar", "ablat", 30, sca(30)),
  case("ablat_vector", "ablat", three, vec(three)),
  case("ablat_column", "ablat", matrix(three, ncol = 1), mtx(matrix(three, ncol = 1))),
  case("ablat_vector_knha", "ablat", three, vec(three), test = "knha"),
  case("ablat_vector_DL_t", "ablat", three, vec(three), method = "DL", test = "t"),
  case("ablat_vector_nointercept", "ablat", three, vec(three), intercept = FALSE),
  case("ablat_cols_vector", "ablat_cols", three, vec(three)),
  case("ablat_cols_scalar_FE", "ablat_cols", 30, sca(30), method = "FE"),
  case("ablat_row", "ablat", matrix(three, nrow = 1), mtx(matrix(three, nrow = 1)),
       evsynth = "InputError",
       why = "one moderator: metafor flattens a 1 x n matrix to n predictions; a matrix is rows"),
  case("ablat_2x2", "ablat", rbind(c(1, 10), c(1, 30)), mtx(rbind(c(1, 10), c(1, 30))),
       evsynth = "InputError",
       why = paste("one moderator: metafor flattens an n x 2 matrix to 2n predictions; it could",
                   "also be meant as rows of [intercept, ablat]")),
  # two moderators: a vector of length 2 is one row, a matrix one row per prediction
  case("ablat_year_vector", "ablat_year", c(30, 1970), vec(c(30, 1970))),
  case("ablat_year_row", "ablat_year", rbind(c(30, 1970)), mtx(rbind(c(30, 1970)))),
  case("ablat_year_matrix", "ablat_year", three_rows, mtx(three_rows)),
  case("ablat_year_square", "ablat_year", two_rows, mtx(two_rows)),
  case("ablat_year_matrix_knha", "ablat_year", three_rows, mtx(three_rows), test = "knha"),
  case("ablat_year_matrix_nointercept", "ablat_year", three_rows, mtx(three_rows),
       intercept = FALSE),
  case("ablat_year_matrix_ML", "ablat_year", three_rows, mtx(three_rows), method = "ML"),
  case("ablat_year_intercept_column", "ablat_year", cbind(1, three_rows),
       mtx(cbind(1, three_rows)), evsynth = "InputError",
       why = "the intercept column is never part of newmods (metafor: dimension error)"),
  case("ablat_year_transposed", "ablat_year", t(three_rows), mtx(t(three_rows)),
       evsynth = "InputError", why = "a 2 x 3 matrix for 2 moderators: rows must be predictions"),
  case("ablat_year_vector3", "ablat_year", c(1, 30, 1970), vec(c(1, 30, 1970)),
       evsynth = "InputError", why = "a vector is one row: it needs 2 values"),
  case("ablat_year_scalar", "ablat_year", 30, sca(30), evsynth = "InputError",
       why = "one value for a model with 2 moderators"),
  # columns matched by name (metafor: colnames of newmods; evsynth: DataFrame/dict columns)
  case("ablat_year_frame_named", "ablat_year_frame",
       {x <- three_rows[, 2:1]; colnames(x) <- c("year", "ablat"); x},
       frm(year = list(1950, 1970, 1980), ablat = list(10, 30, 50))),
  case("ablat_year_frame_dict", "ablat_year_frame", c(ablat = 30, year = 1970),
       dct(year = 1970, ablat = 30)),
  # models without an intercept
  case("noint_ablat_vector", "noint_ablat", three, vec(three), method = "FE"),
  case("noint_ablat_scalar", "noint_ablat", 30, sca(30), method = "FE"),
  case("noint_ablat_year_vector", "noint_ablat_year", c(30, 1970), vec(c(30, 1970)),
       method = "FE"),
  case("noint_ablat_year_matrix", "noint_ablat_year", three_rows, mtx(three_rows),
       method = "FE"),
  case("alloc_cell_identity", "alloc_cell", diag(3), mtx(diag(3))),
  case("alloc_cell_frame", "alloc_cell", diag(3),
       frm(alloc = list("alternate", "random", "systematic"))),
  case("alloc_cell_frame_knha", "alloc_cell", diag(3),
       frm(alloc = list("alternate", "random", "systematic")), test = "knha"),
  # formula models with new data (metafor: the model-matrix columns without the intercept)
  case("ablat_alloc_frame", "ablat_alloc", alloc_dummies,
       frm(ablat = list(10, 30, 50), alloc = list("alternate", "random", "systematic"))),
  case("ablat_alloc_dict", "ablat_alloc", c(30, 1, 0), dct(ablat = 30, alloc = "random")),
  case("ablat_alloc_frame_nointercept", "ablat_alloc", alloc_dummies,
       frm(ablat = list(10, 30, 50), alloc = list("alternate", "random", "systematic")),
       intercept = FALSE),
  case("ablat_alloc_matrix", "ablat_alloc", alloc_dummies, mtx(alloc_dummies)),
  case("ablat_year_formula_frame", "ablat_year", three_rows,
       frm(ablat = list(10, 30, 50), year = list(1950, 1970, 1980))),
  # intercept-only model: no moderators to give
  case("int_only_scalar", "int_only", 30, sca(30), evsynth = "InputError",
       why = "the model has no moderators")
)

cases <- list()
for (sp in specs) {
  mdl <- models[[sp$model]]
  res <- mdl$fit(sp$method, sp$test)
  out <- list(id = sp$id, dataset = "rma_bcg.csv", model = mdl$py, model_r = sp$model,
              method = sp$method, test = sp$test, newmods_r = if (is.matrix(sp$r)) mat(sp$r)
              else as.list(sp$r), newmods = sp$py, intercept = sp$intercept,
              evsynth = sp$evsynth, why = sp$why, tau2 = res$tau2, beta = num(res$beta))
  args <- list(res, newmods = sp$r)
  if (!is.null(sp$intercept)) args$intercept <- sp$intercept
  preds <- list()
  for (pt in c("default", "t", "riley")) {
    r <- capture(do.call(predict, c(args, list(pi.type = pt))))
    if (!is.null(r$error)) {
      out$status <- "error"
      out$error <- r$error
      break
    }
    preds[[pt]] <- pred_fields(r$value)
  }
  if (is.null(out$status)) {
    r <- capture(do.call(predict, c(args, list(level = 90))))
    preds$level90 <- pred_fields(r$value)
    out$status <- "ok"
    out$predict <- preds
  }
  if (sp$evsynth == "match" && out$status != "ok") stop("metafor refused ", sp$id, ": ", out$error)
  cases[[length(cases) + 1]] <- out
}
write_group("predict_newmods", cases,
            note = paste("metafor predict.rma(res, newmods, intercept, pi.type, level); evsynth =",
                         "'InputError' marks shapes evsynth refuses (metafor's output or error",
                         "is kept to document the difference)"))

# ---- subgroups with a common tau^2: ~ 0 + factor(alloc) ------------------------------------
# Per level: the coefficient, its SE and CI and metafor's predictions (CI and PI with the common
# tau^2) from predict(res, newmods = diag(G)); and the intercept-only fit to that level's studies
# with tau^2 fixed at the common estimate, rma(yi, vi, tau2 = tau2_common, subset = level), for
# k, QE, QEp, I^2, H^2, weights and the log-likelihood of the level's studies.
levs <- sort(unique(bcg$alloc))
G <- length(levs)
sub_cases <- list()
for (m in c("REML", "ML", "DL", "PM", "HE", "SJ", "FE")) for (tt in c("z", "t", "knha")) {
  res <- rma(yi, vi, mods = ~ 0 + factor(alloc), data = bcg, method = m, test = tt,
             control = CTRL)
  preds <- list()
  for (pt in c("default", "t", "riley")) {
    preds[[pt]] <- pred_fields(predict(res, newmods = diag(G), pi.type = pt))
  }
  preds$level90 <- pred_fields(predict(res, newmods = diag(G), level = 90))
  per <- list()
  for (lv in levs) {
    d <- bcg[bcg$alloc == lv, ]
    fx <- if (m == "FE") rma(yi, vi, data = d, method = "FE", control = CTRL)
          else rma(yi, vi, data = d, tau2 = res$tau2, method = if (m == "REML") "REML" else "ML",
                   control = CTRL)
    per[[lv]] <- list(k = fx$k, QE = fx$QE, QEp = fx$QEp, I2 = fx$I2, H2 = fx$H2,
                      weights = num(weights(fx)), ll = as.numeric(logLik(fx)), AIC = AIC(fx),
                      BIC = BIC(fx), AICc = as.numeric(fitstats(fx)["AICc:", 1]),
                      beta = num(fx$beta), se = fx$se)
  }
  sub_cases[[length(sub_cases) + 1]] <- list(
    id = paste("bcg_alloc_common", m, tt, sep = "_"), dataset = "rma_bcg.csv",
    args = list(method = m, test = tt, subgroup = "alloc", subgroup_tau2 = "common"),
    levels = levs, tau2 = res$tau2, se_tau2 = res$se.tau2, k = res$k, p = res$p,
    ddf = num(res$ddf), QE = res$QE,
    coef = list(beta = num(res$beta), se = num(res$se), zval = num(res$zval),
                pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub)),
    predict = preds, fixed_tau2_fits = per)
}
write_group("subgroups_common", sub_cases,
            note = paste("common: rma(yi, vi, mods = ~ 0 + factor(alloc)); predictions per level",
                         "predict(res, newmods = diag(3)); per level rma(yi, vi, tau2 = tau2,",
                         "subset = level) (method REML when the common fit is REML, FE for FE, else ML:",
                         "the log-likelihood evsynth reports for each method)"))

cat("done\n")
