# Reference for the fit statistics of ipdma.prognosis.RiskModel on the shared case
# nmr_ms_synthetic (log(x + 1) of ONSYRS, T25FWABL, RLPS1YR, then complete cases), as in
# ../glmer_random_intercept:
#  * glm(binomial), no trial term and trial-specific intercepts (0 + factor(STUDYID)):
#    logLik, deviance, null.deviance, AIC, BIC, df.residual, events, SEs of the
#    trial intercepts;
#  * glmer (1 | STUDYID), nAGQ = 1: logLik, AIC, BIC, df.residual, the conditional
#    modes and their conditional SDs (ranef(condVar = TRUE));
#  * glmnet (alpha = 1 and 0.5) on a fixed 8-value lambda path, no trial term and with
#    unpenalised trial dummies (penalty.factor 0): coefficients, df, dev.ratio, nulldev
#    (thresh 1e-22 so that glmnet converges to ~1e-10).
#   IPDMA_REFERENCE=/path/to/shared/reference Rscript make.R   (writes expected.json)
suppressPackageStartupMessages({library(lme4); library(glmnet); library(jsonlite)})
ref <- Sys.getenv("IPDMA_REFERENCE", "../../../../../shared/reference")
ipd <- read.csv(file.path(ref, "nmr_ms_synthetic/synthetic_ms_ipd.csv"), stringsAsFactors = FALSE)
for (v in c("ONSYRS", "T25FWABL", "RLPS1YR")) ipd[[v]] <- log(ipd[[v]] + 1)
X <- na.omit(ipd)
pre <- c("AGE", "SEX", "EDSSBL", "ONSYRS", "RLPS1YR", "TRELMOS", "PRMSGR", "T25FWABL", "SFPCSBL")
fml <- reformulate(pre, "RELAPSE2year")
num <- function(x) unname(as.numeric(x))
stats <- function(m) list(logLik = num(logLik(m)), deviance = num(deviance(m)),
  null_deviance = num(m$null.deviance), AIC = num(AIC(m)), BIC = num(BIC(m)),
  df_resid = num(df.residual(m)), n = nobs(m), events = sum(X$RELAPSE2year))
out <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
            glmnet = as.character(packageVersion("glmnet")), n = nrow(X))
g0 <- glm(fml, data = X, family = binomial)
out$glm_none <- stats(g0)
X$trial <- factor(X$STUDYID)
g1 <- glm(update(fml, . ~ 0 + trial + .), data = X, family = binomial)
s1 <- stats(g1)
# glm's null deviance without an intercept column is that of mu = 1/2; the intercept-only
# null deviance is the one of g0 (reported by ipdma for every trial effect)
s1$null_deviance <- num(g0$null.deviance)
s1$trials <- levels(X$trial)
s1$trial_intercepts <- num(coef(g1)[paste0("trial", levels(X$trial))])
s1$trial_intercepts_se <- num(sqrt(diag(vcov(g1)))[paste0("trial", levels(X$trial))])
out$glm_fixed <- s1
ctl <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                    check.conv.grad = "ignore")
gm <- glmer(update(fml, . ~ . + (1 | STUDYID)), data = X, family = binomial, nAGQ = 1, control = ctl)
re <- ranef(gm, condVar = TRUE)$STUDYID
out$glmer <- list(logLik = num(logLik(gm)), AIC = num(AIC(gm)), BIC = num(BIC(gm)),
  df_resid = num(df.residual(gm)), trials = rownames(re), blup = num(re[, 1]),
  blup_sd = num(sqrt(attr(re, "postVar")[1, 1, ])))
Z <- as.matrix(X[, pre])
D <- model.matrix(~ trial, X)[, -1]
lambda <- exp(seq(log(0.05), log(0.0005), length.out = 8))
for (a in c(1, 0.5)) for (te in c("none", "fixed")) {
  xx <- if (te == "none") Z else cbind(Z, D)
  pf <- if (te == "none") rep(1, ncol(Z)) else c(rep(1, ncol(Z)), rep(0, ncol(D)))
  fit <- glmnet(xx, X$RELAPSE2year, family = "binomial", alpha = a, lambda = lambda,
                penalty.factor = pf, thresh = 1e-22, maxit = 1e7)
  out[[paste0("glmnet_alpha", a, "_", te)]] <- list(lambda = lambda,
    coef = unname(t(as.matrix(coef(fit)))[, 1:(1 + ncol(Z))]), df = num(fit$df),
    dev_ratio = num(fit$dev.ratio), nulldev = num(fit$nulldev))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
