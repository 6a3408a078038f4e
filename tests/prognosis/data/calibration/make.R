# Reference for the calibration statistics of ipdma.prognosis (RiskModel.calibration,
# ValidationResult.calibration / calibration_summary) on the shared case
# nmr_ms_synthetic (pre-processing as ../glmer_random_intercept), model
# glm(RELAPSE2year ~ 9 predictors, binomial) without trial term:
#  * calibration intercept and slope: glm(y ~ lp, binomial) (coefficients and SEs);
#  * calibration-in-the-large: glm(y ~ 1, offset = lp, binomial) (intercept and SE);
#  * O/E = sum(y) / sum(expit(lp)), mean predicted risk and observed rate;
# apparent (lp from the full-data fit) overall and per trial, and internal-external
# (each trial held out: lp from the fit on the other trials), per held-out trial and
# summarised by a REML random-effects meta-analysis (metafor::rma) of the per-trial
# intercept, CITL, slope and log(O/E) (prediction interval with t_{k-2}) (SE of log O/E: sqrt((1 - o) / (n o)), o = observed rate, as
# Debray et al. 2017); the c-statistic with its DeLong SE and the Brier score with
# sd((p - y)^2) / sqrt(n).
#   IPDMA_REFERENCE=/path/to/shared/reference Rscript make.R   (writes expected.json)
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
ref <- Sys.getenv("IPDMA_REFERENCE", "../../../../../shared/reference")
ipd <- read.csv(file.path(ref, "nmr_ms_synthetic/synthetic_ms_ipd.csv"), stringsAsFactors = FALSE)
for (v in c("ONSYRS", "T25FWABL", "RLPS1YR")) ipd[[v]] <- log(ipd[[v]] + 1)
X <- na.omit(ipd)
pre <- c("AGE", "SEX", "EDSSBL", "ONSYRS", "RLPS1YR", "TRELMOS", "PRMSGR", "T25FWABL", "SFPCSBL")
fml <- reformulate(pre, "RELAPSE2year")
num <- function(x) unname(as.numeric(x))
# c-statistic with its DeLong et al. (1988) SE, written out (placements, ties as 1/2)
delong <- function(lp, y) {
  x1 <- lp[y == 1]; x0 <- lp[y == 0]
  psi <- outer(x1, x0, function(a, b) (a > b) + 0.5 * (a == b))
  v10 <- rowMeans(psi); v01 <- colMeans(psi)
  c(mean(psi), sqrt(var(v10) / length(x1) + var(v01) / length(x0)))
}
cal <- function(lp, y) {
  ctl <- glm.control(epsilon = 1e-14, maxit = 100)   # converged: vcov at the optimum
  m1 <- glm(y ~ lp, family = binomial, control = ctl)
  m0 <- glm(y ~ 1, offset = lp, family = binomial, control = ctl)
  p <- plogis(lp); o <- mean(y)
  list(n = length(y), events = sum(y),
       intercept = num(coef(m1)[1]), intercept_se = num(sqrt(diag(vcov(m1)))[1]),
       slope = num(coef(m1)[2]), slope_se = num(sqrt(diag(vcov(m1)))[2]),
       citl = num(coef(m0)[1]), citl_se = num(sqrt(vcov(m0)[1, 1])),
       oe = sum(y) / sum(p), log_oe_se = sqrt((1 - o) / (length(y) * o)),
       mean_predicted = mean(p), observed = o,
       c = delong(lp, y)[1], c_se = delong(lp, y)[2],
       brier = mean((p - y)^2), brier_se = sd((p - y)^2) / sqrt(length(y)))
}
g <- glm(fml, data = X, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))
lp <- predict(g)
y <- X$RELAPSE2year
trials <- sort(unique(X$STUDYID))
out <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
            trials = trials, apparent_overall = cal(lp, y))
out$apparent_by_trial <- lapply(trials, function(t) cal(lp[X$STUDYID == t], y[X$STUDYID == t]))
oot <- numeric(nrow(X))
out$iecv_by_trial <- lapply(trials, function(t) {
  ho <- X$STUDYID == t
  gt <- glm(fml, data = X[!ho, ], family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))
  oot[ho] <<- predict(gt, newdata = X[ho, ])
  cal(oot[ho], y[ho])
})
out$iecv_stacked <- cal(oot, y)
pool <- function(est, se) {
  r <- rma(est, sei = se, method = "REML")
  # prediction interval with t_{k-2} (Riley et al. 2011; ipdma's default pi_df = "riley")
  h <- qt(0.975, r$k - 2) * sqrt(r$se^2 + r$tau2)
  list(estimate = num(r$beta), se = num(r$se), tau2 = num(r$tau2), ci_lb = num(r$ci.lb),
       ci_ub = num(r$ci.ub), pi_lb = num(r$beta) - h, pi_ub = num(r$beta) + h)
}
tab <- do.call(rbind, lapply(out$iecv_by_trial, as.data.frame))
out$iecv_summary <- list(
  intercept = pool(tab$intercept, tab$intercept_se), citl = pool(tab$citl, tab$citl_se),
  slope = pool(tab$slope, tab$slope_se), log_oe = pool(log(tab$oe), tab$log_oe_se))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
