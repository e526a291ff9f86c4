# Data of the three worked examples of the netmeta article
#   Balduzzi S, Ruecker G, Nikolakopoulou A, Papakonstantinou T, Salanti G, Efthimiou O,
#   Schwarzer G (2023). netmeta: An R Package for Network Meta-Analysis Using Frequentist
#   Methods. Journal of Statistical Software 106(2):1-40. doi:10.18637/jss.v106.i02
# as netmeta ships them (Stowe2010, Dogliotti2014, Baker2009), written in long arm-based
# format for tests/models/test_netmeta_jss2023.py, which compares evsynth with the values the
# article prints (no R needed to run the test).
#
# Run from the repository root:  Rscript tests/reference/network_jss2023_data.R
# Writes tests/reference/data/netmeta_{stowe2010,dogliotti2014,baker2009}.csv.

suppressMessages(library(netmeta))
out <- file.path("tests", "reference", "data")

data(Stowe2010)
long <- do.call(rbind, lapply(1:3, function(j) {
  d <- Stowe2010[, c("study", paste0(c("t", "y", "sd", "n"), j))]
  names(d) <- c("study", "treatment", "mean", "sd", "n")
  d[!is.na(d$treatment) & d$treatment != "", ]
}))
long <- long[order(match(long$study, Stowe2010$study)), ]
write.csv(long, file.path(out, "netmeta_stowe2010.csv"), row.names = FALSE)

data(Dogliotti2014)
write.csv(Dogliotti2014[, c("study", "treatment", "stroke", "total")],
          file.path(out, "netmeta_dogliotti2014.csv"), row.names = FALSE)

data(Baker2009)
d <- Baker2009
d$studlab <- paste(d$study, d$year)
write.csv(d[, c("studlab", "treatment", "exac", "total")],
          file.path(out, "netmeta_baker2009.csv"), row.names = FALSE)
cat("netmeta", as.character(packageVersion("netmeta")), "\n")
