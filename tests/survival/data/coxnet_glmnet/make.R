## glmnet(family = "cox") default paths at glmnet's default thresh (1e-7) and at 1e-14,
## oracle of ipdma.survival.coxnet_path(thresh=...) (glmnet's own iterations) and of its
## default lambda sequence / early stop.  Run from this folder:
##   Rscript make.R   (R 4.2, glmnet 4.1-6, survival 3.5-3, jsonlite)
## Data: the control arms (trt == 0) of shared/reference/survival_prognostic/surv_ipd.csv
## (ours, simulated), columns trial, time, status, x1..x5 -> control.csv.
suppressMessages({library(glmnet); library(survival); library(jsonlite)})
d <- read.csv("control.csv")
X <- as.matrix(d[, paste0("x", 1:5)]); y <- Surv(d$time, d$status)
w <- 0.5 + (seq_len(nrow(d)) %% 4) / 2                      # deterministic case weights
fits <- list(
  default = list(),
  thresh14 = list(thresh = 1e-14),
  enet_pf = list(alpha = 0.5, penalty.factor = c(0, 1, 2, 1, 0.5)),
  weights = list(weights = w),
  unpen_first = list(penalty.factor = c(0, 0, 1, 1, 1)),
  ridge_pf = list(alpha = 0, penalty.factor = c(0, 1, 1, 1, 1))
)
out <- list()
for (nm in names(fits)) {
  f <- do.call(glmnet, c(list(x = X, y = y, family = "cox"), fits[[nm]]))
  out[[nm]] <- list(args = fits[[nm]][setdiff(names(fits[[nm]]), "weights")],
                    lambda = f$lambda, coef = unname(as.matrix(coef(f))),
                    dev_ratio = f$dev.ratio)
}
out$weights_used <- w
out$glmnet <- as.character(packageVersion("glmnet"))
write_json(out, "expected.json", digits = NA, auto_unbox = TRUE)
