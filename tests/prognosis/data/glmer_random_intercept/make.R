# Reference for ipdma.prognosis.RiskModel("glm", trial_effect = "random"): lme4::glmer
# with a normal random intercept per trial, Laplace (nAGQ = 1) and adaptive
# Gauss-Hermite (nAGQ = 7), on the shared case nmr_ms_synthetic (log(x + 1) of ONSYRS,
# T25FWABL, RLPS1YR, then complete cases). Tight bobyqa tolerances so that lme4's
# optimiser does not limit the comparison. Stored: fixed effects, their vcov, the
# random-intercept SD, logLik and the conditional modes (BLUPs) per trial.
# Run from this folder with the shared folder beside the repo:
# lme4 warns "nearly unidentifiable: very large eigenvalue" because the covariates are
# unscaled (AGE in years); the optimum itself is well defined (our logLik agrees to 1e-11).
#   Rscript make.R      (writes expected.json; about 15 s)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
ipd <- read.csv("../../../../../shared/reference/nmr_ms_synthetic/synthetic_ms_ipd.csv",
                stringsAsFactors = FALSE)
for (v in c("ONSYRS", "T25FWABL", "RLPS1YR")) ipd[[v]] <- log(ipd[[v]] + 1)
X <- na.omit(ipd)
f <- RELAPSE2year ~ AGE + SEX + EDSSBL + ONSYRS + RLPS1YR + TRELMOS + PRMSGR + T25FWABL +
  SFPCSBL + (1 | STUDYID)
ctl <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                    check.conv.grad = "ignore")
out <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")), n = nrow(X))
for (q in c(1, 7)) {
  m <- glmer(f, data = X, family = binomial, nAGQ = q, control = ctl)
  re <- ranef(m)$STUDYID
  out[[paste0("nAGQ_", q)]] <- list(
    names = names(fixef(m)), fixef = unname(fixef(m)), vcov = unname(as.matrix(vcov(m))),
    sd_trial = unname(attr(VarCorr(m)$STUDYID, "stddev")), logLik = as.numeric(logLik(m)),
    trials = rownames(re), blup = unname(re[, 1]))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
