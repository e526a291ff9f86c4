# Reference values for the boundary cases of meta_mv (tests/models/test_meta_mv_boundary.py):
# fits whose maximum lies on the boundary of the parameter space (correlations at +-1,
# variances at 0, G indefinite for CS/HCS as metafor allows).
#
# The data are the random multivariate data sets of the test module (numpy generator, written
# once to tests/reference/mv_boundary/data_<name>.csv by
# `python tests/models/test_meta_mv_boundary.py --write-data`; the test checks they are still
# what the generator gives). Each case is fitted as the module documents (nlminb, optim BFGS or
# Nelder-Mead at reltol 1e-12, cholesky = FALSE, fixed components); "best" cases take the
# highest log-likelihood of the three optimisers that converge (metafor's best attempt).
#
# Run from the repository root:  Rscript tests/reference/mv_boundary_fixtures.R
# Writes tests/reference/mv_boundary/boundary.json.

source(file.path("tests", "reference", "fixture_helpers.R"))
out_dir <- fixture_dir("mv_boundary")

read_data <- function(name) {
  d <- read.csv(file.path(out_dir, paste0("data_", name, ".csv")))
  d
}

OPT <- list(
  nlminb = list(),
  BFGS = list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-12, maxit = 10000),
  NM = list(optimizer = "optim", optmethod = "Nelder-Mead", reltol = 1e-12, maxit = 10000)
)

fit_once <- function(d, struct, random, method, ctrl, tau2 = NULL, rho = NULL) {
  args <- list(yi = d$yi, V = d$vi, random = random, struct = struct, data = d,
               method = method, control = ctrl)
  if (!is.null(tau2)) args$tau2 <- tau2
  if (!is.null(rho)) args$rho <- rho
  res <- tryCatch(suppressWarnings(do.call(rma.mv, args)), error = function(e) e)
  if (inherits(res, "error")) return(list(ok = FALSE, error = conditionMessage(res)))
  list(ok = TRUE, ll = as.numeric(logLik(res)), tau2 = num(res$tau2), rho = num(res$rho))
}

run_case <- function(id, data, struct, method, optimizers, random = ~ outcome | study,
                     tau2 = NULL, rho = NULL, extra = list()) {
  d <- read_data(data)
  fits <- lapply(optimizers, function(o) c(list(optimizer = o),
                                           fit_once(d, struct, random, method, OPT[[o]],
                                                    tau2, rho)))
  ok <- Filter(function(f) isTRUE(f$ok), fits)
  if (length(ok) == 0) stop(sprintf("case %s: every optimiser failed", id))
  best <- ok[[which.max(vapply(ok, function(f) f$ll, 0))]]
  c(list(id = id, data = data, struct = struct, method = method,
         random = paste(deparse(random), collapse = ""),
         optimizers = unlist(optimizers), attempts = fits,
         best_optimizer = best$optimizer, ll = best$ll, tau2 = best$tau2, rho = best$rho),
    extra)
}

# the log-likelihood metafor gives at given estimates (all components fixed)
ll_at <- function(data, struct, method, tau2, rho, random = ~ outcome | study) {
  d <- read_data(data)
  f <- fit_once(d, struct, random, method, list(), tau2, rho)
  f$ll
}

cases <- list(
  # UN, seed 15917 of the property test: nlminb stops without convergence on all four fits
  run_case("un_15917_ML", "seed15917", "UN", "ML", c("BFGS", "NM")),
  run_case("un_15917_REML", "seed15917", "UN", "REML", c("BFGS", "NM")),
  # two outcomes, the second an exact linear function of the first: rank-one G
  run_case("un_hand_ML", "hand_built", "UN", "ML", c("BFGS", "NM")),
  run_case("un_hand_REML", "hand_built", "UN", "REML", c("BFGS", "NM")),
  # CS/HCS: boundary local maxima below the best one
  run_case("cs_102_REML", "seed102", "CS", "REML", c("nlminb", "BFGS", "NM")),
  run_case("hcs_86_REML", "seed86", "HCS", "REML", c("nlminb", "BFGS", "NM")),
  run_case("hcs_49_ML", "seed49", "HCS", "ML", c("nlminb", "BFGS", "NM")),
  # HCS at rho = -1 with G indefinite (nlminb converges)
  run_case("hcs_121_ML", "seed121", "HCS", "ML", c("nlminb")),
  run_case("hcs_121_REML", "seed121", "HCS", "REML", c("nlminb")),
  # HCS seed 6, ML: nlminb fails; the best of optim's two methods, and metafor's
  # log-likelihood at evsynth's (higher) maximum
  run_case("hcs_6_ML", "seed6", "HCS", "ML", c("nlminb", "BFGS", "NM"), extra = list(
    ll_at_evsynth = ll_at("seed6", "HCS", "ML",
                          c(0.00021954772901043967, 0.0039465776430967475, 0), -1))),
  # CAR on time = 0, 1, 3 within each study
  run_case("car_142_ML", "seed142", "CAR", "ML", c("nlminb"), random = ~ time | study),
  run_case("car_142_REML", "seed142", "CAR", "REML", c("nlminb"), random = ~ time | study),
  # UN with rho fixed at 0.5
  run_case("un_rho_3_REML", "seed3", "UN", "REML", c("BFGS", "NM"), rho = 0.5),
  # UN with the second variance fixed at 0.01, on metafor's natural scale (cholesky = FALSE)
  {
    d <- read_data("seed7")
    ctrl <- list(cholesky = FALSE)
    f <- fit_once(d, "UN", ~ outcome | study, "ML", ctrl, tau2 = c(NA, 0.01, NA))
    list(id = "un_tau2_7_ML", data = "seed7", struct = "UN", method = "ML",
         optimizers = "nlminb (cholesky = FALSE)", best_optimizer = "nlminb", ll = f$ll,
         tau2 = f$tau2, rho = f$rho)
  },
  # HAR: variances at 0 released
  run_case("har_69_ML", "seed69", "HAR", "ML", c("nlminb", "BFGS", "NM")),
  run_case("har_185_ML", "seed185", "HAR", "ML", c("nlminb", "BFGS", "NM"))
)
names(cases) <- vapply(cases, function(x) x$id, "")
write_group("boundary", cases,
            note = "meta_mv boundary cases; ll = the best converged attempt's log-likelihood")
