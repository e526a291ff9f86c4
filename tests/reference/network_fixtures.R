# Reference values for evsynth.netmeta (tests/models/test_netmeta_reference.py).
#
# Run from the repository root:
#   R_LIBS=/work/R-lib Rscript tests/reference/network_fixtures.R
# Requires R with netmeta (>= 3.4), meta (>= 8.4), metafor (>= 3.8), metadat and jsonlite.
#
# Writes, for each dataset <d> in senn2013, hasselblad1998, franchini2012, linde2015:
#   tests/reference/network/<d>_arms.csv      arm-level data (not for senn2013: contrasts only)
#                                             columns studlab, treat, event, n  or  mean, sd, n
#   tests/reference/network/<d>_pairwise.csv  the contrasts netmeta fits (netmeta::pairwise() of
#                                             the arms, or the published contrasts for Senn):
#                                             studlab, treat1, treat2, TE, seTE (+ arm columns)
#   tests/reference/network/<d>.json          everything below
#
# JSON conventions (one simple format throughout):
#   * a matrix is {"rows": [names], "cols": [names], "values": [[row 1], [row 2], ...]};
#     netmeta's TE.common[a, b] (a versus b) is values[rows.index(a)][cols.index(b)];
#   * a data frame is an object of equal-length column arrays;
#   * a named vector is {"names": [...], "values": [...]};
#   * NA and NaN are written as null (read them as NaN).
#   * per-comparison (m-row) outputs are stored with netmeta's own studlab/treat1/treat2/TE, i.e.
#     AFTER netmeta's swapping that makes treat1 < treat2 in R's collation: match rows by
#     (studlab, {treat1, treat2}) and flip signed quantities when the orientation differs.
#
# Top-level keys of <d>.json:
#   versions                    R, netmeta, meta, metafor versions
#   dataset, source, sm, reference, small_values, pairwise_csv, arms_csv
#   fits.<tau>  (tau in DL, REML, ML) netmeta() common + random effects. For DL netmeta's own
#               generalised DerSimonian-Laird. For REML/ML the random-effects part is netmeta()
#               with tau.preset = sqrt(tau2) where tau2 is from the tight metafor rma.mv
#               contrast-based model below (rma_mv.<tau>), so that every downstream number is
#               accurate to ~1e-10 (netmeta's own REML runs rma.mv at default tolerances).
#   netmeta_own_tau2.<REML|ML>  informational: tau2 from netmeta(method.tau = "REML"/"ML")
#               (control tight, else netmeta's default). netmeta is given the contrasts only
#               (TE, seTE), and then uses a DIAGONAL V (seTE^2 of each study's comparisons with
#               its reference arm) in its rma.mv call, i.e. it ignores the multi-arm covariance,
#               so these differ from rma_mv where a network has multi-arm trials.
#   rma_mv.<common|REML|ML>     metafor rma.mv contrast-based model: yi = contrasts of every arm
#               versus the study's baseline arm (the reference if present, else the first treatment
#               in netmeta's order), V block diagonal with Cov(y_tb, y_ub) = (v_tb + v_ub - v_tu)/2,
#               mods = treatment indicators (+1 / -1, reference dropped), random = ~ comp | study
#               with rho = 1/2 (tau^2 for every comparison, netmeta's model). beta = treatment vs
#               reference (names in beta_names), se, vb, tau2, ll (logLik), QE, control used.
#   decomp      decomp.design() of the DL fit
#   netsplit.<tau>.Back-calculation  netsplit() of fits.<tau>; netsplit.SIDDE_DL: netsplit(method =
#               "SIDDE") of the DL fit (SIDDE refits the network per comparison: slow in netmeta)
#   netrank.<tau>.<desirable|undesirable>    netrank() P-scores and P-matrices
#   netcontrib.<tau>.<randomwalk|shortestpath|pseudoinverse>  netcontrib() matrices
#   netheat.<common|random>     netheat's matrices: the inconsistency matrix "diff"
#               (Q.inc.design - Q.inc.design.typ; rows = designs, cols = detached designs, the
#               plotted matrix is -diff) and the design-level hat matrix H of nma_krahn
#               (random: with tau.within, as netheat(random = TRUE))
#   netleague.<tau>  netleague(digits = 2) common / random formatted tables (seq = treatments)

suppressMessages({
  library(netmeta)
  library(metafor)
  library(metadat)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference", "network")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

# metafor run tight, with looser fall-backs if nlminb reports false convergence
CTRLS <- list(list(rel.tol = 1e-12, eval.max = 10000, iter.max = 10000),
              list(rel.tol = 1e-11, eval.max = 10000, iter.max = 10000),
              list(rel.tol = 1e-10, eval.max = 10000, iter.max = 10000),
              list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000))

versions <- list(R = R.version.string,
                 netmeta = as.character(packageVersion("netmeta")),
                 meta = as.character(packageVersion("meta")),
                 metafor = as.character(packageVersion("metafor")),
                 metadat = as.character(packageVersion("metadat")))

# ---- JSON helpers ------------------------------------------------------------------------------
num <- function(x) {
  if (is.null(x)) return(NULL)
  unname(as.numeric(x))
}
M <- function(x) {
  if (is.null(x)) return(NULL)
  x <- as.matrix(x)
  list(rows = as.list(rownames(x)), cols = as.list(colnames(x)),
       values = lapply(seq_len(nrow(x)), function(i) unname(as.vector(x[i, ]))))
}
vec <- function(x) list(names = as.list(names(x)), values = num(x))
DF <- function(x) {
  x <- as.data.frame(x, stringsAsFactors = FALSE)
  rownames(x) <- NULL
  lapply(x, function(col) if (is.factor(col)) as.character(col) else col)
}
write_fixture <- function(x, name) {
  write_json(x, file.path(out_dir, paste0(name, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = FALSE, na = "null", null = "null")
  cat(sprintf("wrote %s.json\n", name))
}

# ---- datasets ----------------------------------------------------------------------------------
datasets <- list()

# Senn et al. (2013) glucose-lowering agents, HbA1c mean differences (contrast level)
data(Senn2013, package = "netmeta")
senn <- Senn2013[, c("studlab", "treat1", "treat2", "TE", "seTE")]
datasets$senn2013 <- list(
  pw = senn, arms = NULL, sm = "MD", reference = "plac", small_values = "desirable",
  source = paste("netmeta::Senn2013 (Senn S, Gavini F, Magrez D, Scheen A (2013), Stat Methods",
                 "Med Res 22:169-189; Rucker G (2012), Res Synth Methods 3:312-324)"))

# Hasselblad (1998) smoking cessation: arm-level events (the data of Lu & Ades 2006, JASA 101:447)
h <- dat.hasselblad1998
h_arms <- data.frame(studlab = paste0("S", h$study), treat = h$trt, event = h$xi, n = h$ni,
                     stringsAsFactors = FALSE)
h_pw <- pairwise(treat = treat, event = event, n = n, studlab = studlab, data = h_arms,
                 sm = "OR")
datasets$hasselblad1998 <- list(
  pw = h_pw, arms = h_arms, sm = "OR", reference = "no_contact", small_values = "undesirable",
  source = paste("metadat::dat.hasselblad1998 (Hasselblad V (1998), Med Decis Making 18:37-43;",
                 "Lu G, Ades AE (2006), J Am Stat Assoc 101:447-459); studlab = 'S' + study"))

# Franchini et al. (2012) Parkinson's disease, mean off-time reduction (arm level)
data(Franchini2012, package = "netmeta")
f <- Franchini2012
f_arms <- do.call(rbind, lapply(1:3, function(j) {
  data.frame(studlab = f$Study, treat = f[[paste0("Treatment", j)]], mean = f[[paste0("y", j)]],
             sd = f[[paste0("sd", j)]], n = f[[paste0("n", j)]], stringsAsFactors = FALSE)
}))
f_arms <- f_arms[!is.na(f_arms$treat) & !is.na(f_arms$mean), ]
f_arms <- f_arms[order(match(f_arms$studlab, f$Study)), ]
rownames(f_arms) <- NULL
f_pw <- pairwise(treat = treat, mean = mean, sd = sd, n = n, studlab = studlab, data = f_arms,
                 sm = "MD")
datasets$franchini2012 <- list(
  pw = f_pw, arms = f_arms, sm = "MD", reference = "Placebo", small_values = "desirable",
  source = paste("netmeta::Franchini2012 (Franchini AJ et al. (2012), Med Decis Making 32:",
                 "506-517; Dias S et al. (2013), NICE DSU TSD 2)"))

# Linde et al. (2015) depression in primary care, early response (arm level, 3-arm trials)
data(Linde2015, package = "netmeta")
l <- Linde2015
l_arms <- do.call(rbind, lapply(1:3, function(j) {
  data.frame(studlab = paste0(l$author, " ", l$year, " #", l$id),
             treat = l[[paste0("treatment", j)]], event = l[[paste0("resp", j)]],
             n = l[[paste0("n", j)]], stringsAsFactors = FALSE)
}))
l_arms <- l_arms[!is.na(l_arms$treat) & l_arms$treat != "" & !is.na(l_arms$event) &
                   !is.na(l_arms$n), ]
# keep studies with at least two arms reporting the outcome
l_arms <- l_arms[l_arms$studlab %in% names(which(table(l_arms$studlab) >= 2)), ]
l_arms <- l_arms[order(match(l_arms$studlab, paste0(l$author, " ", l$year, " #", l$id))), ]
rownames(l_arms) <- NULL
l_pw <- pairwise(treat = treat, event = event, n = n, studlab = studlab, data = l_arms, sm = "OR")
datasets$linde2015 <- list(
  pw = l_pw, arms = l_arms, sm = "OR", reference = "Placebo", small_values = "undesirable",
  source = paste("netmeta::Linde2015, outcome early response (resp), arms with missing events",
                 "dropped (Linde K et al. (2015), Ann Fam Med 13:69-79);",
                 "studlab = author year #id"))

# ---- rma.mv contrast-based model ------------------------------------------------------------
contrast_data <- function(pw, trts, reference) {
  rows <- list()
  for (s in unique(pw$studlab)) {
    d <- pw[pw$studlab == s, ]
    arms <- unique(c(d$treat1, d$treat2))
    arms <- trts[trts %in% arms]
    base <- if (reference %in% arms) reference else arms[1]
    others <- setdiff(arms, base)
    getv <- function(a, b) {
      i <- which((d$treat1 == a & d$treat2 == b) | (d$treat1 == b & d$treat2 == a))
      d$seTE[i]^2
    }
    gety <- function(a, b) {  # a versus b
      i <- which(d$treat1 == a & d$treat2 == b)
      if (length(i)) return(d$TE[i])
      -d$TE[which(d$treat1 == b & d$treat2 == a)]
    }
    V <- matrix(0, length(others), length(others))
    for (i in seq_along(others)) for (j in seq_along(others)) {
      V[i, j] <- if (i == j) getv(others[i], base) else
        (getv(others[i], base) + getv(others[j], base) - getv(others[i], others[j])) / 2
    }
    rows[[s]] <- list(df = data.frame(studlab = s, treat = others, base = base,
                                      yi = sapply(others, gety, b = base),
                                      stringsAsFactors = FALSE), V = V)
  }
  dat <- do.call(rbind, lapply(rows, `[[`, "df"))
  rownames(dat) <- NULL
  V <- bldiag(lapply(rows, `[[`, "V"))
  X <- matrix(0, nrow(dat), length(trts), dimnames = list(NULL, trts))
  X[cbind(seq_len(nrow(dat)), match(dat$treat, trts))] <- 1
  X[cbind(seq_len(nrow(dat)), match(dat$base, trts))] <- -1
  X <- X[, setdiff(trts, reference), drop = FALSE]
  dat$comp <- paste(dat$treat, dat$base, sep = " vs ")
  list(dat = dat, V = V, X = X)
}

fit_rma <- function(cd, method) {
  # every control setting; keep the fit with the highest log-likelihood (nlminb at rel.tol
  # 1e-12 sometimes reports false convergence, and a looser stop can be ~1e-6 off in tau^2)
  best <- NULL
  for (ctrl in CTRLS) {
    args <- list(yi = cd$dat$yi, V = cd$V, mods = cd$X, intercept = FALSE, control = ctrl)
    if (method != "common")
      args <- c(args, list(random = ~ comp | studlab, rho = 1 / 2, data = cd$dat,
                           method = method))
    r <- tryCatch(do.call(rma.mv, args), error = function(e) NULL)
    if (!is.null(r) && (is.null(best) || as.numeric(logLik(r)) > as.numeric(logLik(best$res))))
      best <- list(res = r, control = ctrl)
    if (method == "common" && !is.null(best)) break
  }
  if (is.null(best)) stop("rma.mv failed")
  best
}

rma_out <- function(fr, Xm) {
  r <- fr$res
  list(beta = num(r$beta), beta_names = as.list(colnames(Xm)), se = num(r$se), vb = M(r$vb),
       tau2 = num(r$tau2), rho = num(r$rho), ll = as.numeric(logLik(r)), QE = r$QE,
       QE_df = r$k - r$p, k = r$k, control = fr$control)
}

# ---- netmeta outputs ---------------------------------------------------------------------------
fit_out <- function(n) {
  rowdata <- data.frame(studlab = n$studlab, treat1 = n$treat1, treat2 = n$treat2, TE = n$TE,
                        seTE = n$seTE, narms = n$n.arms, design = n$design,
                        seTE_adj_common = n$seTE.adj.common, seTE_adj_random = n$seTE.adj.random,
                        TE_nma_common = n$TE.nma.common, seTE_nma_common = n$seTE.nma.common,
                        TE_nma_random = n$TE.nma.random, seTE_nma_random = n$seTE.nma.random,
                        leverage_common = n$leverage.common, w_common = n$w.common,
                        w_random = n$w.random, Q_common = n$Q.common,
                        stringsAsFactors = FALSE)
  mats <- c("TE", "seTE", "lower", "upper", "statistic", "pval")
  est <- function(mod) {
    o <- lapply(mats, function(m) M(n[[paste0(m, ".", mod)]]))
    names(o) <- mats
    for (m in c("TE.direct", "seTE.direct", "TE.indirect", "seTE.indirect", "Lplus.matrix"))
      o[[gsub("\\.", "_", m)]] <- M(n[[paste0(m, ".", mod)]])
    o$prop_direct <- vec(n[[paste0("prop.direct.", mod)]])
    o
  }
  list(k = n$k, m = n$m, n = n$n, d = n$d, treatments = as.list(n$trts),
       studies = as.list(n$studies), narms = num(n$narms), designs = as.list(n$designs),
       data = DF(rowdata),
       common = est("common"), random = est("random"),
       seTE_predict = M(n$seTE.predict), lower_predict = M(n$lower.predict),
       upper_predict = M(n$upper.predict), method_predict = n$method.predict,
       Q = n$Q, df_Q = n$df.Q, pval_Q = n$pval.Q, tau2 = n$tau2, tau = n$tau, I2 = n$I2,
       lower_I2 = n$lower.I2, upper_I2 = n$upper.I2,
       Q_heterogeneity = n$Q.heterogeneity, df_Q_heterogeneity = n$df.Q.heterogeneity,
       pval_Q_heterogeneity = n$pval.Q.heterogeneity, Q_inconsistency = n$Q.inconsistency,
       df_Q_inconsistency = n$df.Q.inconsistency, pval_Q_inconsistency = n$pval.Q.inconsistency,
       method_tau = n$method.tau, tau_preset = n$tau.preset)
}

decomp_out <- function(n) {
  d <- decomp.design(n)
  qd <- d$Q.decomp
  list(Q_decomp = c(list(rows = as.list(rownames(qd))), DF(qd)),
       Q_het_design = DF(d$Q.het.design), Q_inc_detach = DF(d$Q.inc.detach),
       Q_inc_design = vec(d$Q.inc.design), Q_inc_random = DF(d$Q.inc.random),
       residuals_inc_detach = M(d$residuals.inc.detach))
}

split_out <- function(n, method) {
  s <- netsplit(n, method = method)
  part <- function(x) if (is.null(x)) NULL else DF(x)
  list(method = s$method, comparison = as.list(s$comparison), k = num(s$k),
       prop_common = num(s$prop.common), prop_random = num(s$prop.random),
       common = part(s$common), direct_common = part(s$direct.common),
       indirect_common = part(s$indirect.common), compare_common = part(s$compare.common),
       random = part(s$random), direct_random = part(s$direct.random),
       indirect_random = part(s$indirect.random), compare_random = part(s$compare.random),
       predict = part(s$predict))
}

rank_out <- function(n, sv) {
  r <- netrank(n, small.values = sv)
  list(small_values = sv, Pscore_common = vec(r$ranking.common),
       Pscore_random = vec(r$ranking.random),
       Pmatrix_common = M(r$Pmatrix.common), Pmatrix_random = M(r$Pmatrix.random))
}

contrib_out <- function(n, method) {
  r <- tryCatch(netcontrib(n, method = method), error = function(e) NULL)
  if (is.null(r)) return(NULL)
  list(method = method, common = M(r$common), random = M(r$random))
}

heat_out <- function(n, random) {
  # the matrices of netmeta::netheat (netheat.R, before the clustering and plotting)
  nma_krahn <- getFromNamespace("nma_krahn", "netmeta")
  if (!random) {
    nmak <- nma_krahn(n)
    decomp <- decomp.design(n)
    residuals <- decomp$residuals.inc.detach
    Q.inc.design <- decomp$Q.inc.design
    tw <- NULL
  } else {
    tw <- getFromNamespace("tau.within", "netmeta")(n)
    nmak <- nma_krahn(n, tau.preset = tw)
    decomp <- decomp.design(n, tau.preset = tw)
    residuals <- decomp$residuals.inc.detach.random.preset
    Q.inc.design <- decomp$Q.inc.design.random.preset
  }
  V <- nmak$V
  typ <- apply(residuals, 2, function(x) t(x) %*% solve(V) * x)
  inc <- matrix(Q.inc.design, nrow = nrow(typ), ncol = ncol(typ))
  diff <- inc - typ
  colnames(diff) <- colnames(typ)
  rownames(diff) <- rownames(residuals)
  list(tau_within = tw, diff = M(diff), H = M(nmak$H), V = M(V),
       design = DF(nmak$design))
}

league_out <- function(n) {
  lg <- netleague(n, digits = 2, seq = n$trts, bracket = "(", separator = " to ")
  list(common = DF(lg$common), random = DF(lg$random))
}

# optional command-line arguments: the datasets to (re)write
sel <- commandArgs(trailingOnly = TRUE)
if (length(sel)) datasets <- datasets[sel]

# ---- run ---------------------------------------------------------------------------------------
for (dname in names(datasets)) {
  ds <- datasets[[dname]]
  pw <- ds$pw
  sm <- ds$sm
  ref <- ds$reference
  keep_cols <- intersect(c("studlab", "treat1", "treat2", "TE", "seTE", "event1", "n1",
                           "event2", "n2", "mean1", "sd1", "mean2", "sd2", "incr"), names(pw))
  pw_csv <- as.data.frame(pw)[, keep_cols]
  write.csv(pw_csv, file.path(out_dir, paste0(dname, "_pairwise.csv")), row.names = FALSE)
  if (!is.null(ds$arms))
    write.csv(ds$arms, file.path(out_dir, paste0(dname, "_arms.csv")), row.names = FALSE)

  # (netmeta evaluates its arguments non-standardly: build the call with do.call)
  nm <- function(...) do.call(netmeta, c(list(TE = pw$TE, seTE = pw$seTE, treat1 = pw$treat1,
                                                treat2 = pw$treat2, studlab = pw$studlab,
                                                sm = sm, reference.group = ref, common = TRUE,
                                                random = TRUE, small.values = ds$small_values),
                                           list(...)))
  n_dl <- nm(method.tau = "DL")
  trts <- n_dl$trts

  cd <- contrast_data(pw_csv, trts, ref)
  rma <- list(common = fit_rma(cd, "common"), REML = fit_rma(cd, "REML"),
              ML = fit_rma(cd, "ML"))
  fits <- list(DL = n_dl,
               REML = nm(tau.preset = sqrt(rma$REML$res$tau2)),
               ML = nm(tau.preset = sqrt(rma$ML$res$tau2)))
  own <- lapply(c(REML = "REML", ML = "ML"), function(meth) {
    o <- NULL
    for (ctrl in list(CTRLS[[1]], NULL)) {
      o <- tryCatch(nm(method.tau = meth, control = ctrl), error = function(e) NULL)
      if (!is.null(o)) break
    }
    if (is.null(o)) NULL else list(tau2 = o$tau2, control = ctrl, TE_random = M(o$TE.random),
                                   seTE_random = M(o$seTE.random))
  })

  out <- list(
    dataset = dname, source = ds$source, versions = versions, sm = sm, reference = ref,
    small_values = ds$small_values,
    pairwise_csv = paste0(dname, "_pairwise.csv"),
    arms_csv = if (is.null(ds$arms)) NULL else paste0(dname, "_arms.csv"),
    treatments = as.list(trts),
    fits = lapply(fits, fit_out),
    netmeta_own_tau2 = own,
    rma_mv = lapply(rma, rma_out, Xm = cd$X),
    rma_mv_data = list(data = DF(cd$dat)),
    decomp = decomp_out(n_dl),
    # SIDDE refits the network once per comparison (slow in netmeta): DL fit only
    netsplit = c(lapply(fits, function(n) list(
      "Back-calculation" = split_out(n, "Back-calculation"))),
      list(SIDDE_DL = split_out(n_dl, "SIDDE"))),
    netrank = lapply(fits, function(n) list(desirable = rank_out(n, "desirable"),
                                           undesirable = rank_out(n, "undesirable"))),
    netcontrib = lapply(fits[c("DL", "REML")], function(n) list(
      randomwalk = contrib_out(n, "randomwalk"),
      shortestpath = contrib_out(n, "shortestpath"),
      pseudoinverse = contrib_out(n, "pseudoinverse"))),
    netheat = list(common = heat_out(n_dl, FALSE), random = heat_out(n_dl, TRUE)),
    netleague = lapply(fits, league_out)
  )
  write_fixture(out, dname)
  cat(sprintf("  %s: k=%d m=%d n=%d  Q=%.6f tau2 DL=%.6g REML=%.6g (netmeta own %s) ML=%.6g\n",
              dname, n_dl$k, n_dl$m, n_dl$n, n_dl$Q, n_dl$tau2, rma$REML$res$tau2,
              format(own$REML$tau2), rma$ML$res$tau2))
}
