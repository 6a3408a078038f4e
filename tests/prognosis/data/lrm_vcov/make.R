# Reference for the variance of ipdma.prognosis.RiskModel("pmle"): rms::lrm's vcov of
# the MLE and of the penalised fit (penalty = 20.5, rms's default penalty matrix,
# var.penalty = "simple"), which the shared case nmr_ms_synthetic does not store.
# Data and pre-processing are that case's (log(x + 1) of ONSYRS, T25FWABL, RLPS1YR,
# then complete cases); run from this folder with the shared folder beside the repo:
#   Rscript make.R      (writes expected.json; a second)
suppressPackageStartupMessages({library(rms); library(jsonlite)})
ipd <- read.csv("../../../../../shared/reference/nmr_ms_synthetic/synthetic_ms_ipd.csv",
                stringsAsFactors = FALSE)
for (v in c("ONSYRS", "T25FWABL", "RLPS1YR")) ipd[[v]] <- log(ipd[[v]] + 1)
X <- na.omit(ipd)
f <- RELAPSE2year ~ AGE + SEX + EDSSBL + ONSYRS + RLPS1YR + TRELMOS + PRMSGR + T25FWABL + SFPCSBL
l0 <- lrm(f, data = X)
lp <- lrm(f, data = X, penalty = 20.5)
out <- list(R = R.version.string, rms = as.character(packageVersion("rms")),
            n = nrow(X), penalty = 20.5, names = names(coef(lp)),
            coef_MLE = unname(coef(l0)), vcov_MLE = unname(as.matrix(vcov(l0))),
            coef_PMLE = unname(coef(lp)), vcov_PMLE = unname(as.matrix(vcov(lp))),
            effective_df = unname(lp$effective.df.diagonal))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
