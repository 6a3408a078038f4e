# Reference for the fit statistics of ipdma.prognosis.RiskModel("pmle", penalty = 20.5)
# against rms::lrm on the shared case nmr_ms_synthetic (pre-processing as ../lrm_vcov):
# the unpenalised log-likelihood at the penalised estimate (computed from lrm's linear
# predictor), lrm's deviance vector (null and model -2 log L), the effective d.f.
# (stats["d.f."] = sum of effective.df.diagonal over the predictors) and AIC with the
# effective d.f. + 1 (intercept) parameters.
#   IPDMA_REFERENCE=/path/to/shared/reference Rscript make.R   (writes expected.json)
suppressPackageStartupMessages({library(rms); library(jsonlite)})
ref <- Sys.getenv("IPDMA_REFERENCE", "../../../../../shared/reference")
ipd <- read.csv(file.path(ref, "nmr_ms_synthetic/synthetic_ms_ipd.csv"), stringsAsFactors = FALSE)
for (v in c("ONSYRS", "T25FWABL", "RLPS1YR")) ipd[[v]] <- log(ipd[[v]] + 1)
X <- na.omit(ipd)
f <- RELAPSE2year ~ AGE + SEX + EDSSBL + ONSYRS + RLPS1YR + TRELMOS + PRMSGR + T25FWABL + SFPCSBL
lp <- lrm(f, data = X, penalty = 20.5, x = TRUE, y = TRUE)
eta <- predict(lp, type = "lp")
y <- X$RELAPSE2year
ll <- sum(y * eta - log1p(exp(eta)))
edf <- unname(lp$stats["d.f."])
out <- list(R = R.version.string, rms = as.character(packageVersion("rms")),
            loglik = ll, deviance_lrm = unname(lp$deviance), df = edf,
            aic = -2 * ll + 2 * (edf + 1), stats = as.list(lp$stats))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
