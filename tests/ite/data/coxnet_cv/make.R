## cv.glmnet(family = "cox") with stored folds on one trial, penalising only the
## treatment interactions (oracle of ipdma's cox-lasso learner). Run from this folder:
##   Rscript make.R   (R 4.2.2, glmnet 4.1-6, survival 3.5-3, jsonlite)
## Data: trial 2 of shared/reference/ite_twostage_survival/train.csv (ours, simulated)
## with fold = (row - 1) %% 5 + 1.
suppressMessages({library(glmnet); library(survival); library(jsonlite)})
g <- read.csv("trial2.csv")
X <- model.matrix(~ trt * (x1 + x2 + x3 + x4), g)[, -1]
y <- Surv(g$time, g$status)
pf <- c(rep(0, 5), rep(1, 4))
f <- glmnet(X, y, family = "cox", penalty.factor = pf, thresh = 1e-14)
cv <- cv.glmnet(X, y, family = "cox", penalty.factor = pf, foldid = g$fold,
                lambda = f$lambda, thresh = 1e-14)
out <- list(lambda = f$lambda, cvm = cv$cvm, cvsd = cv$cvsd, lambda_min = cv$lambda.min,
            lambda_min_index_1based = which(cv$lambda == cv$lambda.min),
            coef_at_lambda_min = as.numeric(coef(cv, s = "lambda.min")),
            coef_names = colnames(X))
write_json(out, "expected.json", digits = NA, auto_unbox = TRUE)
