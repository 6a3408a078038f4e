# Reference for the penalised ITE learners (ipdma.ite.LassoLearner, RidgeLearner,
# ElasticNetLearner): glmnet with only the treatment interactions penalised
# (penalty.factor 0 on t and the x main effects), the paper's fixed lambda grid
# 10^(2, 1.7, ..., -2.8), standardize = TRUE, and cv.glmnet with the fold ids stored in
# trial.csv (10 folds on the original data, 5 folds as in the bootstrap refits).
# thresh = 1e-22 and maxit = 1e7, so that glmnet converges to ~1e-10 (with its default
# thresh = 1e-7, or even 1e-14, the comparison is limited by glmnet, not by ipdma).
# Stored: the full-data coefficient path, cvm per lambda, lambda.min and the
# coefficients at lambda.min, for alpha = 1 (lasso), 0 (ridge) and 0.5 (elastic net).
#   python make_data.py && Rscript make.R   (writes trial.csv, then expected.json)
suppressPackageStartupMessages({library(glmnet); library(jsonlite)})
d <- read.csv("trial.csv")
Z <- model.matrix(~ t * (x1 + x2 + x3 + x4), d)[, -1]   # columns t, x1..x4, t:x1..t:x4
pf <- c(rep(0, 5), rep(1, 4))
lambda <- 10^seq(2, -3, by = -0.3)[1:17]
out <- list(glmnet = as.character(packageVersion("glmnet")), R = R.version.string,
            lambda = lambda, columns = c("(Intercept)", colnames(Z)))
for (a in c(1, 0, 0.5)) {
  key <- paste0("alpha_", a)
  fit <- glmnet(Z, d$y, alpha = a, lambda = lambda, penalty.factor = pf, thresh = 1e-22, maxit = 1e7)
  res <- list(path = unname(t(as.matrix(coef(fit)))))
  for (k in c(10, 5)) {
    cv <- cv.glmnet(Z, d$y, alpha = a, lambda = lambda, penalty.factor = pf, thresh = 1e-22, maxit = 1e7,
                    foldid = d[[paste0("foldid", k)]])
    res[[paste0("cv", k)]] <- list(cvm = cv$cvm, lambda_min = cv$lambda.min,
                                   coef_min = unname(as.vector(coef(cv, s = "lambda.min"))))
  }
  out[[key]] <- res
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
