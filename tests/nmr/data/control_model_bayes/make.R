# Reference for RiskNMRResult.predict(baseline = "control-model") with the Bayesian engine,
# on the shared case nmr_ms_synthetic (stage1_risk_scores.csv).
# Stage 2: the JAGS model of the shared case (model_ipdnmr_placebo_first.jags: fixed
# treatment effects, trial intercepts u[s], risk centred per trial, N(0, var 1000)
# priors), 2 chains, n.adapt 1000, burn-in 1000, 5,000 iterations per chain.
# Control model: glm(RELAPSE2year ~ I(logitRisk - Rbar), binomial) on the placebo arms
# (Rbar = overall mean logitRisk); its coefficients enter as normal draws from the ML
# estimate and covariance, independent of the posterior (one draw per posterior draw).
# Prediction for treatment k at baseline risk R (xc = qlogis(R) - Rbar), per draw:
#   lp_k = a + b xc + delta_k + gamma.w_k xc   (placebo: a + b xc)
# Stored per treatment and grid point: prob = plogis(posterior mean of lp_k), the 2.5 and
# 97.5 % quantiles of plogis(lp_k), ARD = prob_PBO - prob_k with quantiles of the per-draw
# difference, and P(best) (lowest relapse probability).
#   IPDMA_REFERENCE=/path/to/shared/reference Rscript make.R   (writes expected.json; ~90 s)
suppressPackageStartupMessages({library(rjags); library(MASS); library(jsonlite)})
ref <- Sys.getenv("IPDMA_REFERENCE", "../../../../../shared/reference")
d <- read.csv(file.path(ref, "nmr_ms_synthetic/stage1_risk_scores.csv"), stringsAsFactors = FALSE)
ext <- read.csv(file.path(ref, "nmr_ms_synthetic/synthetic_ms_placebo_external.csv"),
                stringsAsFactors = FALSE)
codes <- c(DMF = 1L, GA = 2L, NAT = 3L, PBO = 4L)
study <- as.integer(factor(d$STUDYID))
meanRisk <- as.numeric(tapply(d$logitRisk, study, mean))
jd <- list(Nstudies = 3L, Np = nrow(d), studyid = study, trt = unname(codes[d$TRT01A]),
           outcome = d$RELAPSE2year, Risk = d$logitRisk, meanRisk = meanRisk, ref = 4L,
           NpPlacebo = nrow(ext), outcomeP = ext$RELAPSE2year)
inits <- lapply(1:2, function(k) list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = 3000 + k))
jm <- jags.model(file.path(ref, "nmr_ms_synthetic/model_ipdnmr_placebo_first.jags"), data = jd,
                 inits = inits, n.chains = 2, n.adapt = 1000, quiet = TRUE)
update(jm, 1000)
sm <- coda.samples(jm, c("delta", "gamma.w"), n.iter = 5000)
mat <- as.matrix(sm)
S <- nrow(mat)
Rbar <- mean(d$logitRisk)
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
cm <- glm(RELAPSE2year ~ I(logitRisk - Rbar), family = binomial, data = d[d$TRT01A == "PBO", ],
          control = ctl)
set.seed(20261207)
ab <- mvrnorm(S, coef(cm), vcov(cm))
grid <- c(0.1, 0.3, 0.5, 0.7)
xc <- qlogis(grid) - Rbar
trts <- c("DMF", "GA", "NAT", "PBO")
pred <- list()
lp_all <- array(NA, c(S, length(grid), 4))
for (j in 1:4) {
  dj <- if (j == 4) 0 else mat[, sprintf("delta[%d]", j)]
  gj <- if (j == 4) 0 else mat[, sprintf("gamma.w[%d]", j)]
  for (i in seq_along(grid)) lp_all[, i, j] <- ab[, 1] + ab[, 2] * xc[i] + dj + gj * xc[i]
}
pr_all <- plogis(lp_all)
best <- apply(pr_all, c(1, 2), which.min)
for (j in 1:4) {
  pm <- plogis(colMeans(lp_all[, , j]))
  p0 <- plogis(colMeans(lp_all[, , 4]))
  ardd <- pr_all[, , 4] - pr_all[, , j]
  pred[[trts[j]]] <- list(
    prob = pm, lower = apply(pr_all[, , j], 2, quantile, 0.025),
    upper = apply(pr_all[, , j], 2, quantile, 0.975),
    ard = p0 - pm, ard_lower = apply(ardd, 2, quantile, 0.025),
    ard_upper = apply(ardd, 2, quantile, 0.975), p_best = colMeans(best == j))
}
out <- list(R = R.version.string, rjags = as.character(packageVersion("rjags")),
            JAGS = as.character(jags.version()), draws = S, Rbar = Rbar, grid = grid,
            control_coef = unname(coef(cm)), control_se = unname(sqrt(diag(vcov(cm)))),
            predictions = pred)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
