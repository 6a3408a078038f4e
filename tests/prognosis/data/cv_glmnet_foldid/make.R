# Reference for the prognostic model's cross-validated LASSO (ipdma.prognosis.RiskModel
# "lasso", penalty "cv", lambda_rule "min", cv_criterion "deviance") with user-given fold
# ids: cv.glmnet(family = "binomial", foldid = fold) on its default lambda path.
# Design: age, sex, edss, region (EU = reference: regionROW, regionUS), noise.
# thresh = 1e-14 so that the comparison is not limited by glmnet's convergence.
#   python make_data.py && Rscript make.R   (writes dev.csv, then expected.json)
suppressPackageStartupMessages({library(glmnet); library(jsonlite)})
d <- read.csv("dev.csv")
d$region <- factor(d$region, levels = c("EU", "ROW", "US"))
X <- model.matrix(~ age + sex + edss + region + noise, d)[, -1]
cv <- cv.glmnet(X, d$y, family = "binomial", foldid = d$fold, thresh = 1e-14)
out <- list(glmnet = as.character(packageVersion("glmnet")), R = R.version.string,
            columns = c("(Intercept)", colnames(X)),
            lambda = cv$lambda, cvm = cv$cvm, lambda_min = cv$lambda.min,
            lambda_1se = cv$lambda.1se,
            coef_min = unname(as.vector(coef(cv, s = "lambda.min"))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected.json")
