# Reference for ipdma.prognosis.RiskModel("glm", trial_effect = "random"): lme4::glmer
# with a normal random intercept per trial, Laplace (nAGQ = 1) and adaptive
# Gauss-Hermite (nAGQ = 7), on the shared case nmr_ms_synthetic (log(x + 1) of ONSYRS,
# T25FWABL, RLPS1YR, then complete cases). Tight bobyqa tolerances so that lme4's
# optimiser does not limit the comparison. Stored: fixed effects, their vcov, the
# random-intercept SD, logLik and the conditional modes (BLUPs) per trial.
# Run from this folder with the shared folder beside the repo:
# lme4 warns "nearly unidentifiable: very large eigenvalue" because the covariates are
# unscaled (AGE in years); the optimum itself is well defined (our logLik agrees to 1e-11).
#   Rscript make.R      (writes expected.json; about 1 min)
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
# lme4's vcov() differentiates the deviance with one absolute step (1e-4) for every
# parameter, and the deviance is evaluated with an inner PIRLS tolerance; with AGE in years
# that step is far from the scale of the intercept and of the AGE coefficient, and the
# intercept SE moves by ~1e-3 with the step or with tolPwrss. As a stable R value we also
# store the Hessian of lme4's own deviance function (devFunOnly = TRUE, PIRLS to
# tolPwrss = 1e-13) by central differences with per-parameter steps 1e-3 x (theta, GLM
# SEs) -- lme4's deriv12 formula with scaled steps: vcov = 2 * solve(H)[beta, beta].
ctl_tight <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13,
                          optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                          check.conv.grad = "ignore")
hess_scaled <- function(fun, x, h) {
  n <- length(x); f0 <- fun(x); H <- matrix(NA, n, n)
  for (j in 1:n) {
    ej <- replace(numeric(n), j, h[j])
    H[j, j] <- (fun(x + ej) - 2 * f0 + fun(x - ej)) / h[j]^2
    if (j > 1) for (i in 1:(j - 1)) {
      ei <- replace(numeric(n), i, h[i])
      H[i, j] <- H[j, i] <- (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) +
                               fun(x - ei - ej)) / (4 * h[i] * h[j])
    }
  }
  H
}
g0 <- glm(nobars(f), data = X, family = binomial)
for (q in c(1, 7)) {
  m <- glmer(f, data = X, family = binomial, nAGQ = q, control = ctl_tight)
  dd <- update(m, devFunOnly = TRUE)
  x0 <- c(getME(m, "theta"), fixef(m))
  H <- hess_scaled(dd, x0, 1e-3 * c(getME(m, "theta"), sqrt(diag(vcov(g0)))))
  out[[paste0("nAGQ_", q, "_devfun_hessian")]] <- list(
    names = names(fixef(m)), fixef = unname(fixef(m)),
    vcov = unname(2 * solve(H)[-1, -1]), sd_trial = unname(getME(m, "theta")),
    logLik = as.numeric(logLik(m)), vcov_default = unname(as.matrix(vcov(m))))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
