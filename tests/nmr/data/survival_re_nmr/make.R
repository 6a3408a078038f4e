## Frequentist check of the random-effects Bayesian survival NMR (no coxme here):
## two-stage random-effects meta-analysis of per-trial Cox log hazard ratios.
## data.csv: 12 two-arm trials (A vs PBO) simulated by ipdma's test author
## (Weibull PH, trial log HR ~ N(-0.4, 0.35^2), numpy seed 20261207; see the test).
## Run from this folder: Rscript make.R   (R 4.2, survival, metafor, jsonlite)
suppressMessages({library(survival); library(metafor); library(jsonlite)})
d <- read.csv("data.csv")
d$A <- as.integer(d$treatment == "A")
per <- do.call(rbind, lapply(split(d, d$trial), function(g) {
  f <- coxph(Surv(time, event) ~ A, data = g, ties = "efron")
  data.frame(trial = g$trial[1], yi = unname(coef(f)), vi = unname(vcov(f)[1, 1]))
}))
out <- list(per_trial = per)
for (m in c("REML", "PM", "DL")) {
  r <- rma(yi, vi, data = per, method = m)
  ci <- confint(r)$random
  out[[m]] <- list(d = unname(r$b[1]), se = r$se, tau = sqrt(r$tau2),
                   tau_lower = unname(ci["tau", "ci.lb"]), tau_upper = unname(ci["tau", "ci.ub"]))
}
## one-stage common-effect stratified Cox as the ML reference of d under tau = 0
f1 <- coxph(Surv(time, event) ~ A + strata(trial), data = d, ties = "efron")
out$common_stratified <- list(d = unname(coef(f1)), se = unname(sqrt(vcov(f1)[1, 1])))
write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, dataframe = "columns")
