## Standard errors of Cox-predicted survival (survfit.coxph, ctype = 1) for the
## delta-method variances of ipdma's CoxLearner. Run from this folder:
##   Rscript make.R   (R 4.2.2, survival 3.5-3, jsonlite)
## Data: trial 1 of ../../../../../shared/reference/ite_twostage_survival/train.csv is
## copied here as train_trial1.csv (ours, simulated); test patients 1-5 as test5.csv.
library(survival); library(jsonlite)
g <- read.csv("train_trial1.csv")
te <- read.csv("test5.csv")
f <- coxph(Surv(time, status) ~ trt * (x1 + x2 + x3 + x4), data = g, ties = "efron",
           control = coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 100))
out <- list()
for (a in 0:1) {
  nd <- cbind(te[, c("x1", "x2", "x3", "x4")], trt = a)
  s <- survfit(f, newdata = nd, ctype = 1, stype = 2, se.fit = TRUE)
  i <- findInterval(2, s$time)
  out[[paste0("arm", a)]] <- list(S2 = s$surv[i, ], std_err_cumhaz = s$std.err[i, ])
}
out$note <- "S(2 | x, trt = arm) and std.err (of the cumulative hazard) from survfit(coxph, ctype = 1, stype = 2)"
write_json(out, "expected.json", digits = NA, auto_unbox = TRUE)
