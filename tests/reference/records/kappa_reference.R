# Reference values for evsynth.records.screening.cohen_kappa: psych::cohen.kappa (unweighted).
# Run from the repo root:  Rscript tests/reference/records/kappa_reference.R
# Writes tests/reference/records/kappa.json (ratings included, so tests need no R).
library(psych)
library(jsonlite)

cats <- c("include", "exclude", "maybe")
cases <- list()

add_case <- function(name, a, b) {
  ck <- cohen.kappa(cbind(a, b), levels = cats)
  po <- mean(a == b)
  cases[[name]] <<- list(
    a = a, b = b,
    n = length(a),
    agreement = po,
    kappa = unname(ck$kappa),
    var_kappa = unname(ck$var.kappa),
    psych_version = as.character(packageVersion("psych"))
  )
}

# Wikipedia's 2x2 example (50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no; kappa = 0.4)
a <- c(rep("include", 25), rep("exclude", 25))
b <- c(rep("include", 20), rep("exclude", 5), rep("include", 10), rep("exclude", 15))
add_case("wikipedia_2x2", a, b)

# three categories, 120 records, fixed seed
set.seed(20240611)
a <- sample(cats, 120, replace = TRUE, prob = c(0.2, 0.7, 0.1))
agree <- runif(120) < 0.8
b <- ifelse(agree, a, sample(cats, 120, replace = TRUE, prob = c(0.3, 0.5, 0.2)))
add_case("three_categories_120", a, b)

# typical title-abstract screening: mostly excludes, a few includes, some maybes
set.seed(7)
a <- sample(cats, 340, replace = TRUE, prob = c(0.08, 0.85, 0.07))
flip <- runif(340) < 0.1
b <- ifelse(flip, sample(cats, 340, replace = TRUE), a)
add_case("screening_340", a, b)

write_json(cases, "tests/reference/records/kappa.json", digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
