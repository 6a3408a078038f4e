## Reference for fixed heterogeneity and multivariate I^2 / H^2 (metafor).
##  * univariate: rma(yi, vi, tau2 = 0.1) on dat.bcg (log RR) with method REML / ML,
##    tests z and knha, intercept-only and ~ ablat: coefficients, SEs, logLik, I2, H2, QE.
##  * multivariate: rma.mv on Berkey et al. (1998), struct = "UN", Psi fixed via
##    tau2 = c(0.02, 0.01) (AL, PD: factor-level order) and rho = 0.5, REML / ML:
##    coefficients, vcov, logLik, AIC.
##  * I^2 / H^2 per outcome for the REML rma.mv fit with Psi estimated, by the formula of
##    metafor's FAQ for multilevel / multivariate models:
##    P = W - W X (X'WX)^-1 X'W (W = solve(V), X the model matrix),
##    I2_j = 100 tau2_j / (tau2_j + (k - p) / tr(P)).
## Run from this folder:  Rscript make.R   -> expected.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
num <- function(x) unname(as.numeric(x))
out <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")))
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = read.csv("dat_bcg.csv"))
for (m in c("REML", "ML")) for (tst in c("z", "knha")) for (mods in c("none", "ablat")) {
  f <- if (mods == "none") rma(yi, vi, data = bcg, method = m, test = tst, tau2 = 0.1) else
    rma(yi, vi, mods = ~ ablat, data = bcg, method = m, test = tst, tau2 = 0.1)
  out$univariate[[paste(m, tst, mods, sep = "_")]] <- list(
    coef = num(coef(f)), se = num(f$se), logLik = num(logLik(f)), I2 = num(f$I2), H2 = num(f$H2),
    QE = num(f$QE), tau2 = num(f$tau2), AIC = num(AIC(f)))
}
dat <- read.csv("dat_berkey1998.csv")
V <- bldiag(lapply(split(dat[, c("v1i", "v2i")], dat$trial), as.matrix))
for (m in c("REML", "ML")) {
  f <- rma.mv(yi, V, mods = ~ 0 + outcome, random = ~ outcome | trial, struct = "UN", data = dat,
              method = m, tau2 = c(0.02, 0.01), rho = 0.5)
  out$multivariate_fixed[[m]] <- list(coef_names = names(coef(f)), coef = num(coef(f)),
    vcov = unname(vcov(f)), logLik = num(logLik(f)), AIC = num(AIC(f)), tau2 = num(f$tau2),
    rho = num(f$rho), QE = num(f$QE))
}
for (mods in c("none", "year")) {
  f <- if (mods == "none") rma.mv(yi, V, mods = ~ 0 + outcome, random = ~ outcome | trial,
                                  struct = "UN", data = dat) else
    rma.mv(yi, V, mods = ~ 0 + outcome + outcome:I(year - 1983), random = ~ outcome | trial,
           struct = "UN", data = dat)
  W <- solve(f$V)
  X <- model.matrix(f)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  v <- (f$k - f$p) / sum(diag(P))
  out$multivariate_I2[[mods]] <- list(levels = f$g.levels.f[[1]], tau2 = num(f$tau2),
    typical_v = v, I2 = num(100 * f$tau2 / (f$tau2 + v)), H2 = num(f$tau2 / v + 1))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
