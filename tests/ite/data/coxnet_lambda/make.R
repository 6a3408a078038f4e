## glmnet's default lambda sequence for family = "cox" (no lambda = given), only the
## treatment interactions penalised, on trials 1, 3 and 5 of
## shared/reference/ite_twostage_survival/train.csv (ours, simulated), alpha 1, 0.5, 0;
## oracle of the cox-lasso / cox-ridge learners' default path. Run from this folder:
##   Rscript make.R   (R 4.2, glmnet 4.1-x, survival, jsonlite)
## trials.csv = rows of trials 1, 3 and 5 of that train.csv.
suppressMessages({library(glmnet); library(survival); library(jsonlite)})
d <- read.csv("trials.csv")
out <- list()
for (k in sort(unique(d$trial))) {
  g <- d[d$trial == k, ]
  X <- model.matrix(~ trt * (x1 + x2 + x3 + x4), g)[, -1]
  y <- Surv(g$time, g$status)
  pf <- c(rep(0, 5), rep(1, 4))
  for (a in c(1, 0.5, 0)) {
    f <- glmnet(X, y, family = "cox", penalty.factor = pf, alpha = a, thresh = 1e-14)
    out[[length(out) + 1]] <- list(trial = k, alpha = a, n = nrow(g), lambda = f$lambda,
                                   dev_ratio = f$dev.ratio)
  }
}
write_json(list(cases = out, glmnet = as.character(packageVersion("glmnet"))),
           "expected.json", digits = NA, auto_unbox = TRUE)
