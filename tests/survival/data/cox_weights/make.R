## Reference for ipdma.survival features not in ../shared/reference/survival_prognostic:
## coxph with case weights (Efron and Breslow), offsets, strata + weights; survfit baselines
## for a weighted fit; glmnet Cox with weights, alpha = 0.5, penalty.factor and strata
## (stratifySurv), and glmnet's default lambda sequence.
## Run from this folder: Rscript make.R  (reads data.csv, writes expected.json)
suppressPackageStartupMessages({ library(survival); library(glmnet); library(jsonlite) })
d <- read.csv("data.csv")
cctl <- coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 100)
xs <- c("x1", "x2", "x3")
num <- function(x) unname(as.numeric(x))
## vcov = vcov(fit): with non-integer case weights coxph defaults to the robust (sandwich)
## variance; vcov_model = the model-based inverse information (fit$naive.var when robust)
ex <- function(f) list(coef = num(coef(f)), vcov = unname(vcov(f)),
                       vcov_model = unname(if (is.null(f$naive.var)) vcov(f) else f$naive.var),
                       robust = !is.null(f$naive.var), loglik = num(f$loglik),
                       score = num(f$score), wald = num(f$wald.test))
step_at <- function(time, val, t) c(0, val)[findInterval(t, time) + 1L]
grid <- c(0.5, 1, 1.5, 2)
out <- list(meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
                        glmnet = as.character(packageVersion("glmnet"))))
fw <- coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, weights = w, ties = "efron", control = cctl)
out$cox_weights_efron <- ex(fw)
zero <- data.frame(x1 = 0, x2 = 0, x3 = 0)
out$cox_weights_efron$H0_breslow <- step_at(survfit(fw, newdata = zero, ctype = 1)$time, survfit(fw, newdata = zero, ctype = 1)$cumhaz, grid)
out$cox_weights_efron$H0_efron <- step_at(survfit(fw, newdata = zero, ctype = 2)$time, survfit(fw, newdata = zero, ctype = 2)$cumhaz, grid)
out$cox_weights_breslow <- ex(coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, weights = w, ties = "breslow", control = cctl))
out$cox_robust_unweighted <- ex(coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, ties = "efron", robust = TRUE, control = cctl))
out$cox_offset_efron <- ex(coxph(Surv(time, status) ~ x1 + x2 + offset(off), data = d, ties = "efron", control = cctl))
out$cox_strata_weights <- ex(coxph(Surv(time, status) ~ x1 + x2 + x3 + strata(g), data = d, weights = w, ties = "efron", control = cctl))
X <- as.matrix(d[, xs]); y <- Surv(d$time, d$status)
lam <- c(0.1, 0.03, 0.005)
g1 <- glmnet(X, y, family = "cox", weights = d$w, alpha = 0.5, penalty.factor = c(1, 2, 0.5), lambda = lam, thresh = 1e-14, maxit = 1e6)
out$glmnet_weights_enet <- list(lambda = lam, coef = unname(as.matrix(coef(g1))))
g2 <- glmnet(X, stratifySurv(y, d$g), family = "cox", lambda = lam, thresh = 1e-14, maxit = 1e6)
g2z <- glmnet(X, stratifySurv(y, d$g), family = "cox", lambda = 0, thresh = 1e-14, maxit = 1e6)
out$glmnet_strata <- list(lambda = lam, coef = unname(as.matrix(coef(g2))), coef_lambda0 = num(coef(g2z)),
  note = "glmnet 4.1-6 stratifySurv: at lambda = 0 this differs from coxph(ties = 'breslow') + strata by ~2e-4 (unexplained; not used as an oracle)")
out$cox_strata_breslow <- ex(coxph(Surv(time, status) ~ x1 + x2 + x3 + strata(g), data = d, ties = "breslow", control = cctl))
g3 <- glmnet(X, y, family = "cox")
out$glmnet_default_lambda <- num(g3$lambda)
write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
