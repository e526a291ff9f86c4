#!/usr/bin/env bash
# Installs the R packages the fixture scripts under tests/reference/ use. Only needed to
# re-create fixtures: the test suite reads the committed JSON and never needs R.
#
# Debian packages: metafor 3.8, metadat, clubSandwich, robumeta, lme4, BiasedUrn, numDeriv.
# Not in Debian, built from their source trees into a private library (R_LIBS):
#   CompQuadForm (CRAN source, GitHub mirror cran/CompQuadForm) - metafor's GENQM / GENQ CI;
#   metabook, meta and netmeta (the authors' repositories guido-s/metabook, guido-s/meta,
#   guido-s/netmeta; netmeta at 3.4-0, commit ddee74e, the last release that builds against
#   the meta version of the same repository and R 4.2).
# Usage: tests/reference/install_r_packages.sh SRC_DIR [LIB_DIR]
#   SRC_DIR holds the unpacked source trees CompQuadForm/, metabook/, meta/, netmeta/;
#   LIB_DIR defaults to /work/R-lib. Then run fixture scripts with R_LIBS=LIB_DIR.
set -euo pipefail
src=${1:?usage: install_r_packages.sh SRC_DIR [LIB_DIR]}
lib=${2:-/work/R-lib}
apt-get update
apt-get install -y r-base-core r-base-dev r-cran-metafor r-cran-metadat r-cran-clubsandwich \
  r-cran-robumeta r-cran-lme4 r-cran-biasedurn r-cran-numderiv r-cran-jsonlite \
  r-cran-ggplot2 r-cran-dplyr r-cran-readr r-cran-purrr r-cran-stringr r-cran-xml2 \
  r-cran-igraph r-cran-magic r-cran-ggrepel r-cran-tidyr r-cran-colorspace r-cran-mvtnorm \
  r-cran-scales r-cran-tibble r-cran-rlang r-cran-magrittr r-cran-matrix r-cran-mass
mkdir -p "$lib"
for pkg in CompQuadForm metabook meta netmeta; do
  R CMD INSTALL --no-docs -l "$lib" "$src/$pkg"
done
R_LIBS="$lib" Rscript -e 'for (p in c("CompQuadForm", "meta", "netmeta"))
  cat(p, as.character(packageVersion(p)), "\n")'
