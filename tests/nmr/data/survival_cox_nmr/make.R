# Oracle for the time-to-event risk-based NMR (ipdma.nmr.RiskNMR with time=/event=).
# Data: surv_nmr.csv written by ipdma.datasets.make_survival_network(1200,
# random_state=20261207) (columns patient_id, trial, treatment, time, event) plus the
# true prognostic score R (6 decimals). Run: Rscript make.R (R 4.2, survival 3.5).
suppressMessages({library(survival); library(jsonlite)})
d <- read.csv("surv_nmr.csv", stringsAsFactors = FALSE)
d$treatment <- factor(d$treatment, levels = c("PBO", "A", "B", "C"))
d$Rc <- d$R - ave(d$R, d$trial)              # centred at each trial's mean
ctrl <- coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 100)
out <- list()
for (ties in c("efron", "breslow")) {
  fit <- coxph(Surv(time, event) ~ treatment * Rc + strata(trial), data = d, ties = ties,
               control = ctrl)
  out[[ties]] <- list(coef_names = names(coef(fit)), coef = unname(coef(fit)),
                      se = unname(sqrt(diag(vcov(fit)))), vcov = unname(vcov(fit)),
                      loglik = fit$loglik[2], loglik_null = fit$loglik[1])
}
fit <- coxph(Surv(time, event) ~ treatment * Rc + strata(trial), data = d, ties = "efron",
             control = ctrl)
# trial-specific baseline (stratum T2), Breslow hazard (ctype = 1): S(t*) and its se
# for every treatment at scores r (Rc = r - mean of R in T2), horizon 2, RMST to 3
cT2 <- mean(d$R[d$trial == "T2"])
r <- c(-0.8, 0, 0.9)
nd <- expand.grid(treatment = levels(d$treatment), r = r, stringsAsFactors = FALSE)
nd$treatment <- factor(nd$treatment, levels = levels(d$treatment))
nd$Rc <- nd$r - cT2
nd$trial <- "T2"
sf <- survfit(fit, newdata = nd, ctype = 1, se.fit = TRUE)
s2 <- summary(sf, times = 2)
rmst <- sapply(seq_len(nrow(nd)), function(i) {
  sfi <- sf[i]; tt <- sfi$time; ss <- as.numeric(sfi$surv)
  keep <- tt <= 3
  p <- c(0, tt[keep]); s <- c(1, ss[keep])
  sum(diff(c(p, 3)) * s)
})
out$trial_T2 <- list(centre = cT2, r = nd$r, treatment = as.character(nd$treatment),
                     surv = as.numeric(s2$surv), std_err_cumhaz = as.numeric(s2$std.err) /
                       as.numeric(s2$surv), rmst3 = rmst)
# pooled baseline: Breslow over all patients with the Efron coefficients fixed and the
# score centred at the overall mean (offset-only Cox model)
cbar <- mean(d$R)
b <- coef(fit)
X <- model.matrix(~ treatment * Rp, data = transform(d, Rp = R - cbar))[, -1]
d$off <- drop(X %*% b)
f0 <- coxph(Surv(time, event) ~ offset(off), data = d, ties = "breslow")
ndp <- expand.grid(treatment = levels(d$treatment), r = r, stringsAsFactors = FALSE)
ndp$treatment <- factor(ndp$treatment, levels = levels(d$treatment))
Xn <- model.matrix(~ treatment * Rp, data = transform(ndp, Rp = r - cbar))[, -1]
# H0 at offset 0 (survfit of the offset-only model with newdata off = 0, Breslow)
h0 <- survfit(f0, newdata = data.frame(off = 0), ctype = 1)
lpn <- drop(Xn %*% b)
H0at <- function(t) { k <- findInterval(t, h0$time); if (k == 0) 0 else h0$cumhaz[k] }
sp2 <- exp(-H0at(2) * exp(lpn))
keep <- h0$time <= 3
pts <- c(0, h0$time[keep]); H <- c(0, h0$cumhaz[keep])
rmstp <- sapply(lpn, function(l) sum(diff(c(pts, 3)) * exp(-H * exp(l))))
out$pooled <- list(centre = cbar, r = ndp$r, treatment = as.character(ndp$treatment),
                   surv = sp2, rmst3 = rmstp)
out$versions <- list(R = R.version.string, survival = as.character(packageVersion("survival")))
write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
# Weibull PH variant: survreg with a log-time intercept per trial and a common scale
w <- survreg(Surv(time, event) ~ 0 + trial + treatment * Rc, data = d, dist = "weibull",
             control = survreg.control(rel.tolerance = 1e-13, maxiter = 100))
nd2 <- nd
lpw <- predict(w, newdata = nd2, type = "lp")
sw <- exp(-(2 / exp(lpw))^(1 / w$scale))
rmw <- sapply(lpw, function(l) integrate(function(t) exp(-(t / exp(l))^(1 / w$scale)), 0, 3,
                                          rel.tol = 1e-12)$value)
out$weibull <- list(coef_names = names(coef(w)), coef = unname(coef(w)), scale = w$scale,
                    vcov = unname(vcov(w)), loglik = w$loglik[2],
                    ph_loghr = unname(-coef(w)[-(1:4)] / w$scale),
                    T2 = list(r = nd2$r, treatment = as.character(nd2$treatment),
                              surv = unname(sw), rmst3 = unname(rmw)))
write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
