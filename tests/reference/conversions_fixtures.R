# Reference values for evsynth.convert (src/evsynth/effects/conversions.py).
#
# Run from the repository root:  Rscript tests/reference/conversions_fixtures.R
# Writes JSON fixtures to tests/reference/conversions/. Tests read them and never need R.
#
# Sources of the reference numbers:
#  * sd_change: metafor::escalc(measure = "MC") (raw mean change), whose sampling variance is
#    vi = (sd1^2 + sd2^2 - 2 r sd1 sd2) / n, so sqrt(vi * n) is the SD of the change scores.
#  * SD/SE from CIs, t and P values: the Cochrane Handbook (v6.4, 6.3.1, 6.5.2.2, 6.5.2.3)
#    formulas evaluated with R's qt()/qnorm().
#  * mean/SD from median, IQR, range: metafor 3.8-1 (the installed version) has no
#    conv.fivenum() (added in metafor 4.0), so the estimators of Wan et al. (2014), Luo et al.
#    (2018), Shi et al. (2020), Hozo et al. (2005) and Bland (2015) are written out below in
#    base R from the papers, as an independent implementation to compare against.
#  * combine_groups: simulated raw data; the combined group's mean/SD are computed with
#    mean()/sd() on the pooled raw observations (ground truth, no formula involved).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference", "conversions")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

save <- function(x, name) {
  x$generated_by <- "tests/reference/conversions_fixtures.R"
  x$metafor_version <- as.character(packageVersion("metafor"))
  x$r_version <- R.version.string
  write_json(x, file.path(out_dir, name), digits = NA, auto_unbox = TRUE, pretty = TRUE,
             na = "null")
}

# ---------------------------------------------------------------------------- sd_change (metafor)

sdb <- c(4.2, 4.0, 6.4, 10, 1.5, 3, 3, 0.5, 12)
sdf <- c(3.8, 4.4, 7.1, 10, 2.5, 3, 5, 8.0, 0)
r   <- c(0.8, 0.8, 0.5, 0, -0.3, 1, 1, -1, 0.4)
ni  <- c(32, 29, 100, 50, 12, 20, 20, 8, 15)
dat <- escalc(measure = "MC", m1i = rep(1, length(ni)), m2i = rep(0, length(ni)),
              sd1i = sdb, sd2i = sdf, ri = r, ni = ni)
save(list(sd_baseline = sdb, sd_followup = sdf, r = r, n = ni,
          sd_change = sqrt(as.numeric(dat$vi) * ni)), "sd_change.json")

# ---------------------------------------------------------------------------- CIs, t, P

# single-group mean CI -> SD (Handbook 6.5.2.2); t with n - 1 df when n < 60 ("auto")
lo <- c(10.2, 3.1, -2.5, 100, 0.5, 48.1, 7.7)
up <- c(14.6, 5.9, 1.5, 130, 0.9, 52.3, 9.1)
n  <- c(25, 10, 59, 60, 200, 2, 1000)
level <- c(95, 90, 99)
one_group <- list()
for (lv in level) {
  p <- 1 - (1 - lv / 100) / 2
  qt_ <- qt(p, n - 1)
  qz <- qnorm(p)
  one_group[[as.character(lv)]] <- list(
    auto = sqrt(n) * (up - lo) / (2 * ifelse(n < 60, qt_, qz)),
    t = sqrt(n) * (up - lo) / (2 * qt_),
    z = sqrt(n) * (up - lo) / (2 * qz))
}

# mean-difference CI -> pooled SD (Handbook 6.5.2.3); t with n1 + n2 - 2 df when a group < 60
mlo <- c(1.2, -3.4, 0.1, -10, 2.2)
mup <- c(6.4, 1.0, 0.7, 30, 2.9)
n1  <- c(25, 60, 100, 3, 400)
n2  <- c(22, 59, 100, 2, 350)
two_group <- list()
for (lv in level) {
  p <- 1 - (1 - lv / 100) / 2
  qt_ <- qt(p, n1 + n2 - 2)
  qz <- qnorm(p)
  f <- sqrt(1 / n1 + 1 / n2)
  two_group[[as.character(lv)]] <- list(
    auto = (mup - mlo) / (2 * ifelse(n1 < 60 | n2 < 60, qt_, qz)) / f,
    t = (mup - mlo) / (2 * qt_) / f,
    z = (mup - mlo) / (2 * qz) / f)
}

# t statistic / P value -> pooled SD (Handbook 6.5.2.3)
tval <- c(2.78, -1.5, 0.3, 10, -4.2)
md   <- c(3.8, -2.0, 0.05, 12, 1.1)
pval <- c(0.008, 0.2, 0.76, 1e-10, 0.049)
f <- sqrt(1 / n1 + 1 / n2)
sd_t <- abs(md) / abs(tval) / f
sd_p_t <- abs(md) / qt(pval / 2, n1 + n2 - 2, lower.tail = FALSE) / f
sd_p_z <- abs(md) / qnorm(pval / 2, lower.tail = FALSE) / f

# generic inverse-variance SE from a CI (Handbook 6.3.1, 6.3.2) and from a P value
glo <- c(0.5, -1.2, 0.01, 1.1)
gup <- c(2.0, 0.4, 0.95, 1.3)
est <- c(1.0, -0.4, 0.2, 1.2)
se_ci <- lapply(setNames(level, level), function(lv) (gup - glo) / (2 * qnorm(1 - (1 - lv / 100) / 2)))
se_ci_log <- lapply(setNames(level, level),
                    function(lv) (log(gup[c(1, 3, 4)]) - log(glo[c(1, 3, 4)])) /
                                 (2 * qnorm(1 - (1 - lv / 100) / 2)))
gp <- c(0.008, 0.3, 0.04, 1e-6)
se_p <- abs(est) / qnorm(gp / 2, lower.tail = FALSE)

save(list(
  one_group = list(lower = lo, upper = up, n = n, levels = level, sd = one_group),
  two_group = list(lower = mlo, upper = mup, n1 = n1, n2 = n2, levels = level, sd = two_group),
  t_p = list(t = tval, md = md, p = pval, n1 = n1, n2 = n2, sd_from_t = sd_t,
             sd_from_p_t = sd_p_t, sd_from_p_z = sd_p_z),
  generic = list(lower = glo, upper = gup, estimate = est, p = gp, levels = level,
                 se_from_ci = se_ci, log_rows = c(0, 2, 3), se_from_ci_log = se_ci_log,
                 se_from_p = se_p)
), "ci_t_p.json")

# ---------------------------------------------------------------------------- medians

xi  <- function(n) 2 * qnorm((n - 0.375) / (n + 0.25))         # Wan et al. (2014)
eta <- function(n) 2 * qnorm((0.75 * n - 0.125) / (n + 0.25))  # Wan et al. (2014)

# Each study has the median plus the range (S1), the IQR (S3), or both (S2); NA = not reported.
med <- c(6, 6, 6, 30, 30, 30, 1.2, 1.2, 1.2, 50, 50, 50, 10, 10, 10, 7, 7, 7, -3, -3, -3)
q1  <- c(NA, 4, 4, NA, 22, 22, NA, 0.9, 0.9, NA, 41, 41, NA, 9, 9, NA, 6.5, 6.5, NA, -5, -5)
q3  <- c(NA, 10, 10, NA, 41, 41, NA, 1.6, 1.6, NA, 57, 57, NA, 12, 12, NA, 8, 8, NA, -2, -2)
mn  <- c(2, NA, 2, 10, NA, 10, 0.2, NA, 0.2, 20, NA, 20, 8, NA, 8, 1, NA, 1, -11, NA, -11)
mx  <- c(14, NA, 14, 72, NA, 72, 4.5, NA, 4.5, 90, NA, 90, 25, NA, 25, 9, NA, 9, 2, NA, 2)
nn  <- c(20, 20, 20, 5, 5, 5, 47, 47, 47, 250, 250, 250, 12, 12, 12, 1000, 1000, 1000, 70,
         70, 70)
s1 <- !is.na(mn) & is.na(q1)
s2 <- !is.na(mn) & !is.na(q1)
s3 <- is.na(mn) & !is.na(q1)
scen <- ifelse(s2, "S2", ifelse(s1, "S1", "S3"))

pick <- function(a, b, c) ifelse(s1, a, ifelse(s2, b, c))

# Luo et al. (2018) means
w_s1 <- 4 / (4 + nn^0.75)
w_s3 <- 0.7 + 0.39 / nn
w1_s2 <- 2.2 / (2.2 + nn^0.75)
w2_s2 <- 0.7 - 0.72 / nn^0.55
luo_mean <- pick(w_s1 * (mn + mx) / 2 + (1 - w_s1) * med,
                 w1_s2 * (mn + mx) / 2 + w2_s2 * (q1 + q3) / 2 + (1 - w1_s2 - w2_s2) * med,
                 w_s3 * (q1 + q3) / 2 + (1 - w_s3) * med)
# Wan et al. (2014) means and SDs
wan_mean <- pick((mn + 2 * med + mx) / 4, (mn + 2 * q1 + 2 * med + 2 * q3 + mx) / 8,
                 (q1 + med + q3) / 3)
wan_sd <- pick((mx - mn) / xi(nn), ((mx - mn) / xi(nn) + (q3 - q1) / eta(nn)) / 2,
               (q3 - q1) / eta(nn))
# Shi et al. (2020) SD for S2
w_shi <- 1 / (1 + 0.07 * nn^0.6)
shi_sd <- pick((mx - mn) / xi(nn),
               w_shi * (mx - mn) / xi(nn) + (1 - w_shi) * (q3 - q1) / eta(nn),
               (q3 - q1) / eta(nn))
# Hozo et al. (2005), S1 only
hozo_mean <- ifelse(s1, ifelse(nn <= 25, (mn + 2 * med + mx) / 4, med), NA)
hozo_sd <- ifelse(s1, ifelse(nn <= 15, sqrt(((mn - 2 * med + mx)^2 / 4 + (mx - mn)^2) / 12),
                             ifelse(nn <= 70, (mx - mn) / 4, (mx - mn) / 6)), NA)
# Bland (2015), S2 only
bland_mean <- ifelse(s2, (mn + 2 * q1 + 2 * med + 2 * q3 + mx) / 8, NA)
bland_sd <- ifelse(s2, sqrt((mn^2 + 2 * q1^2 + 2 * med^2 + 2 * q3^2 + mx^2) / 16 +
                            (mn * q1 + q1 * med + med * q3 + q3 * mx) / 8 -
                            (mn + 2 * q1 + 2 * med + 2 * q3 + mx)^2 / 64), NA)

save(list(
  median = med, q1 = q1, q3 = q3, min = mn, max = mx, n = nn, scenario = scen,
  methods = list(
    luo_wan_shi = list(mean = luo_mean, sd = shi_sd),
    luo_wan = list(mean = luo_mean, sd = wan_sd),
    wan = list(mean = wan_mean, sd = wan_sd),
    hozo = list(rows = which(s1) - 1, mean = hozo_mean[s1], sd = hozo_sd[s1]),
    bland = list(rows = which(s2) - 1, mean = bland_mean[s2], sd = bland_sd[s2]))
), "fivenum.json")

# ---------------------------------------------------------------------------- combining groups

set.seed(20240601)
studies <- list()
for (s in 1:6) {
  k <- c(2, 2, 3, 4, 5, 3)[s]
  sizes <- sample(2:40, k, replace = TRUE)
  if (s == 2) sizes[1] <- 1  # a single-participant subgroup (its SD is 0)
  groups <- lapply(seq_len(k), function(g) rnorm(sizes[g], mean = runif(1, -5, 20),
                                                sd = runif(1, 0.5, 6)))
  sds <- vapply(groups, function(x) if (length(x) > 1) sd(x) else 0, 0)
  pooled <- unlist(groups)
  studies[[s]] <- list(n = sizes, mean = vapply(groups, mean, 0), sd = sds,
                       combined_n = length(pooled), combined_mean = mean(pooled),
                       combined_sd = sd(pooled))
}
save(list(studies = studies), "combine_groups.json")

cat("fixtures written to", out_dir, "\n")
