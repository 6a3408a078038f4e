# Reference for RiskNMRResult.predict(baseline = "control-model") on the shared case
# nmr_ms_synthetic (stage1_risk_scores.csv): the stage-2 GLM of the reference analysis,
#   glm(RELAPSE2year ~ factor(STUDYID) + trt * Rc, binomial), Rc = logitRisk - trial mean,
# and the control model of the placebo (reference) arms,
#   glm(RELAPSE2year ~ I(logitRisk - Rbar), binomial), Rbar = overall mean logitRisk.
# Absolute prediction for treatment k at baseline risk R (xc = qlogis(R) - Rbar):
#   lp = a + b xc + d_k + gamma_k xc, Wald variance = [1 xc] V_cm [1 xc]' + c' V_glm c
#   (the two fits treated as independent), prob = plogis(lp), CI plogis(lp -/+ z se).
#   IPDMA_REFERENCE=/path/to/shared/reference Rscript make.R   (writes expected.json)
suppressPackageStartupMessages(library(jsonlite))
ref <- Sys.getenv("IPDMA_REFERENCE", "../../../../../shared/reference")
d <- read.csv(file.path(ref, "nmr_ms_synthetic/stage1_risk_scores.csv"), stringsAsFactors = FALSE)
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
Rbar <- mean(d$logitRisk)
d$trt <- relevel(factor(d$TRT01A), "PBO")
d$Rc <- d$logitRisk - ave(d$logitRisk, d$STUDYID)
g <- glm(RELAPSE2year ~ factor(STUDYID) + trt * Rc, family = binomial, data = d, control = ctl)
cm <- glm(RELAPSE2year ~ I(logitRisk - Rbar), family = binomial, data = d[d$TRT01A == "PBO", ],
          control = ctl)
grid <- c(0.1, 0.3, 0.5, 0.7)
xc <- qlogis(grid) - Rbar
trts <- levels(d$trt)
b <- coef(g); V <- vcov(g); nb <- names(b)
z <- qnorm(0.975)
pred <- list()
for (k in trts) {
  prob <- lo <- hi <- numeric(length(grid))
  for (i in seq_along(grid)) {
    cvec <- setNames(numeric(length(b)), nb)
    if (k != "PBO") {
      cvec[paste0("trt", k)] <- 1
      cvec[paste0("trt", k, ":Rc")] <- xc[i]
    }
    xa <- c(1, xc[i])
    lp <- sum(xa * coef(cm)) + sum(cvec * b)
    se <- sqrt(drop(t(xa) %*% vcov(cm) %*% xa + t(cvec) %*% V %*% cvec))
    prob[i] <- plogis(lp); lo[i] <- plogis(lp - z * se); hi[i] <- plogis(lp + z * se)
  }
  pred[[k]] <- list(prob = prob, lower = lo, upper = hi)
}
out <- list(R = R.version.string, Rbar = Rbar, grid = grid,
            control_coef = unname(coef(cm)), control_se = unname(sqrt(diag(vcov(cm)))),
            predictions = pred)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
