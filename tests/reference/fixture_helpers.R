# Shared helpers of the fixture scripts (sourced by rma_fixtures.R and bias_fixtures.R).
# Run the scripts from the repository root.

suppressMessages(library(metafor))
library(jsonlite)

# metafor run tight (the issue's reference setting)
CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)

data_dir <- file.path("tests", "reference", "data")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

# the folder a script writes its JSON groups to
fixture_dir <- function(name) {
  d <- file.path("tests", "reference", name)
  dir.create(d, showWarnings = FALSE, recursive = TRUE)
  d
}

num <- function(x) {
  if (is.null(x) || length(x) == 0) return(NULL)
  unname(as.numeric(x))
}

mat <- function(x) {
  if (is.null(x)) return(NULL)
  x <- unname(as.matrix(x))
  lapply(seq_len(nrow(x)), function(i) as.numeric(x[i, ]))
}

# one JSON file per group of cases, with the metafor and R versions
write_group <- function(name, cases, note = NULL) {
  x <- list(group = name, metafor_version = as.character(packageVersion("metafor")),
            r_version = R.version.string, note = note, cases = cases)
  write_json(x, file.path(out_dir, paste0(name, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "string", null = "null")
  cat(sprintf("%-22s %4d cases\n", name, length(cases)))
}

# run an expression, returning list(value, warnings, error)
capture <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(msg = conditionMessage(e)), class = "err")),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  if (inherits(val, "err")) return(list(value = NULL, warnings = as.list(warns), error = val$msg))
  list(value = val, warnings = as.list(warns), error = NULL)
}
