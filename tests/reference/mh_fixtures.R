# Reference values for evsynth.meta_mh / evsynth.meta_peto (tests/models/test_mh.py).
#
# Run from the repository root:  Rscript tests/reference/mh_fixtures.R
# Requires R with metafor (>= 3.8), metadat and jsonlite. Writes
#   tests/reference/data/mh_<dataset>.csv   (the 2x2 / person-time data used)
#   tests/reference/mh/<case>.json          (one fitted model per file)
# The Python tests read these files only; they never need R.

suppressMessages(library(metafor))
library(jsonlite)

out_dir <- file.path("tests", "reference", "mh")
data_dir <- file.path("tests", "reference", "data")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

num_or_null <- function(x) {
  if (is.null(x) || length(x) == 0) return(NULL)
  x <- unname(as.numeric(x))
  x
}

# ---- datasets (exported to CSV so the Python tests use exactly the same numbers) -------------
datasets <- list()

bcg <- dat.bcg
datasets$bcg <- data.frame(study = paste(bcg$author, bcg$year), ai = bcg$tpos, bi = bcg$tneg,
                           ci = bcg$cpos, di = bcg$cneg)

# Yusuf et al. (1985) beta-blocker trials: table 6 (short-term mortality) and table 9, both with
# zero cells and double-zero trials; NA rows (table separators) removed.
yus <- dat.yusuf1985[!is.na(dat.yusuf1985$ai), ]
y6 <- yus[yus$table == "6", ]
y9 <- yus[yus$table == "9", ]
datasets$yusuf6 <- data.frame(study = make.unique(as.character(y6$trial)), ai = y6$ai,
                              n1i = y6$n1i, ci = y6$ci, n2i = y6$n2i)
datasets$yusuf9 <- data.frame(study = make.unique(as.character(y9$trial)), ai = y9$ai,
                              n1i = y9$n1i, ci = y9$ci, n2i = y9$n2i)

# Collins et al. (1985) H2 antagonists for upper GI bleeding: deaths (d.xti / d.xci); trials with
# missing deaths removed. Contains zero cells and a double-zero trial (Foco 1984).
col <- dat.collins1985a[!is.na(dat.collins1985a$d.xti) & !is.na(dat.collins1985a$d.xci), ]
datasets$collins <- data.frame(study = paste(col$trial, col$year), ai = col$d.xti, n1i = col$nti,
                               ci = col$d.xci, n2i = col$nci)

# Magnesium and myocardial infarction (Egger et al. 2001; includes ISIS-4).
eg <- dat.egger2001
datasets$egger <- data.frame(study = paste(eg$study, eg$year), ai = eg$ai, n1i = eg$n1i,
                             ci = eg$ci, n2i = eg$n2i)

# Hand-made edge cases: zero cells, a double-zero study, a study with all events.
datasets$edge <- data.frame(study = c("A", "B", "C", "D", "E", "F"),
                            ai = c(0, 3, 0, 5, 10, 2), n1i = c(20, 25, 15, 30, 10, 40),
                            ci = c(2, 0, 0, 9, 10, 6), n2i = c(22, 24, 15, 31, 12, 38))
datasets$edge2 <- data.frame(study = c("P", "Q"), ai = c(4, 0), n1i = c(50, 30),
                             ci = c(9, 3), n2i = c(48, 33))
datasets$edge1 <- data.frame(study = c("Solo"), ai = c(7), n1i = c(60), ci = c(15), n2i = c(62))

# Incidence rates (Niel-Weise et al. 2008)
nw <- dat.nielweise2008
datasets$nielweise <- data.frame(study = paste(nw$authors, nw$year), x1i = nw$x1i, t1i = nw$t1i,
                                 x2i = nw$x2i, t2i = nw$t2i)

for (nm in names(datasets)) {
  write.csv(datasets[[nm]], file.path(data_dir, paste0("mh_", nm, ".csv")), row.names = FALSE)
}

# ---- fitting ----------------------------------------------------------------------------------
fields <- function(res) {
  out <- list(
    beta = num_or_null(res$beta), se = res$se, zval = res$zval, pval = res$pval,
    ci_lb = res$ci.lb, ci_ub = res$ci.ub, tau2 = res$tau2,
    QE = res$QE, QEp = res$QEp, I2 = res$I2, H2 = res$H2,
    k = res$k, k_yi = res$k.yi, k_pos = res$k.pos, k_all = res$k.all,
    yi = num_or_null(res$yi), vi = num_or_null(res$vi),
    yi_f = num_or_null(res$yi.f), vi_f = num_or_null(res$vi.f),
    weights = num_or_null(weights(res))
  )
  if (inherits(res, "rma.mh")) {
    out <- c(out, list(CO = res$CO, COp = res$COp, MH = res$MH, MHp = res$MHp,
                       BD = res$BD, BDp = res$BDp, TA = res$TA, TAp = res$TAp))
  }
  pr <- predict(res)
  out$pred <- list(pred = num_or_null(pr$pred), se = num_or_null(pr$se),
                   ci_lb = num_or_null(pr$ci.lb), ci_ub = num_or_null(pr$ci.ub))
  if (res$measure %in% c("OR", "RR", "IRR", "PETO")) {
    pe <- predict(res, transf = exp)
    out$pred_exp <- list(pred = num_or_null(pe$pred), ci_lb = num_or_null(pe$ci.lb),
                         ci_ub = num_or_null(pe$ci.ub))
  }
  out
}

write_case <- function(case, dataset, fun, args, res) {
  x <- list(case = case, dataset = paste0("mh_", dataset, ".csv"), fun = fun, args = args,
            metafor_version = as.character(packageVersion("metafor")), result = fields(res))
  write_json(x, file.path(out_dir, paste0(case, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "null", null = "null")
}

# args use the Python keyword names; add/to/drop00 given as 2-vectors are written as lists
run_mh <- function(case, dataset, measure, correct = TRUE, level = 95, add = 1/2, to = "only0",
                   drop00 = TRUE) {
  d <- datasets[[dataset]]
  if (measure %in% c("IRR", "IRD")) {
    res <- rma.mh(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = d, measure = measure,
                  correct = correct, level = level, add = add, to = to, drop00 = drop00,
                  slab = study)
  } else if ("bi" %in% names(d)) {
    res <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = d, measure = measure,
                  correct = correct, level = level, add = add, to = to, drop00 = drop00,
                  slab = study)
  } else {
    res <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, measure = measure,
                  correct = correct, level = level, add = add, to = to, drop00 = drop00,
                  slab = study)
  }
  args <- list(measure = measure, correct = correct, level = level, add = as.list(add),
               to = as.list(to), drop00 = as.list(drop00))
  write_case(case, dataset, "meta_mh", args, res)
}

run_peto <- function(case, dataset, level = 95, add = 1/2, to = "only0", drop00 = TRUE) {
  d <- datasets[[dataset]]
  if ("bi" %in% names(d)) {
    res <- rma.peto(ai = ai, bi = bi, ci = ci, di = di, data = d, level = level, add = add,
                    to = to, drop00 = drop00, slab = study)
  } else {
    res <- rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, level = level, add = add,
                    to = to, drop00 = drop00, slab = study)
  }
  args <- list(level = level, add = as.list(add), to = as.list(to), drop00 = as.list(drop00))
  write_case(case, dataset, "meta_peto", args, res)
}

sw <- function(expr) suppressWarnings(expr)

for (ds in c("bcg", "yusuf6", "yusuf9", "collins", "egger", "edge", "edge2", "edge1")) {
  for (m in c("OR", "RR", "RD")) {
    sw(run_mh(paste0(ds, "_", m), ds, m))
  }
  sw(run_mh(paste0(ds, "_OR_nocorrect"), ds, "OR", correct = FALSE))
  sw(run_peto(paste0(ds, "_PETO"), ds))
}
sw(run_mh("bcg_OR_level90", "bcg", "OR", level = 90))
sw(run_mh("bcg_RR_level99", "bcg", "RR", level = 99))
sw(run_peto("bcg_PETO_level90", "bcg", level = 90))
# continuity-correction variants (per-study yi/vi and, via the 2nd element, the MH tables)
sw(run_mh("edge_OR_toall", "edge", "OR", to = "all"))
sw(run_mh("edge_RR_keep00", "edge", "RR", drop00 = FALSE))
sw(run_mh("edge_RD_keep00", "edge", "RD", drop00 = FALSE))
sw(run_mh("edge_OR_add2", "edge", "OR", add = c(1/2, 1/2), to = c("only0", "only0")))
sw(run_mh("edge_RR_drop2", "edge", "RR", drop00 = c(TRUE, TRUE)))
sw(run_mh("edge_RD_drop2", "edge", "RD", drop00 = c(TRUE, TRUE)))
sw(run_mh("yusuf9_OR_if0all", "yusuf9", "OR", to = "if0all", add = 1/4))
sw(run_peto("edge_PETO_keep00", "edge", drop00 = FALSE))
sw(run_peto("yusuf9_PETO_drop2", "yusuf9", drop00 = c(TRUE, TRUE)))
# incidence rates
sw(run_mh("nielweise_IRR", "nielweise", "IRR"))
sw(run_mh("nielweise_IRR_nocorrect", "nielweise", "IRR", correct = FALSE))
sw(run_mh("nielweise_IRD", "nielweise", "IRD"))

cat("wrote", length(list.files(out_dir, pattern = "json$")), "fixtures to", out_dir, "\n")
