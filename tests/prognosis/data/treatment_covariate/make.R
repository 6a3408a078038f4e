# Reference for RiskModel with the treatment column among the covariates, coded against
# the reference arm PBO (not the alphabetically first DMF): on the shared case
# nmr_ms_synthetic (pre-processing as ../glmer_random_intercept),
#   glm(RELAPSE2year ~ AGE + EDSSBL + relevel(factor(TRT01A), "PBO"), binomial).
#   IPDMA_REFERENCE=/path/to/shared/reference Rscript make.R   (writes expected.json)
suppressPackageStartupMessages(library(jsonlite))
ref <- Sys.getenv("IPDMA_REFERENCE", "../../../../../shared/reference")
ipd <- read.csv(file.path(ref, "nmr_ms_synthetic/synthetic_ms_ipd.csv"), stringsAsFactors = FALSE)
for (v in c("ONSYRS", "T25FWABL", "RLPS1YR")) ipd[[v]] <- log(ipd[[v]] + 1)
X <- na.omit(ipd)
X$trt <- relevel(factor(X$TRT01A), "PBO")
g <- glm(RELAPSE2year ~ AGE + EDSSBL + trt, family = binomial, data = X,
         control = glm.control(epsilon = 1e-14, maxit = 100))
out <- list(R = R.version.string, names = names(coef(g)), coef = unname(coef(g)),
            se = unname(sqrt(diag(vcov(g)))), logLik = as.numeric(logLik(g)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
