## lme4::glmer with a tight PIRLS tolerance on the final node assignments of the shared
## glmertree_binary case (fits b, c, d), to check fixed-effect SEs and the Laplace logLik.
## R's default glmer (tolPwrss = 1e-7) stops the inner PIRLS early, which biases the finite-
## difference Hessian of the deviance (diagonal ~0.3% too large) and so vcov(glmer); with
## tolPwrss = 1e-13 the Hessian agrees with the exact Laplace Hessian.
## Run from this folder: Rscript make.R  (reads the shared reference case; set REF_DIR if it lives elsewhere)
suppressPackageStartupMessages(library(lme4))
ref <- Sys.getenv("REF_DIR", "../../../../../../shared/reference/glmertree_binary")
e <- jsonlite::fromJSON(file.path(ref, "expected.json"), simplifyVector = TRUE)
d <- read.csv(file.path(ref, "sim_binary_multitrial.csv")); d$trial <- factor(d$trial)
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5, rhoend = 1e-12))
fits <- list(b_glmertree_RI = y ~ .tree + .tree:trt + (1 | trial),
             c_glmertree_RI_RT = y ~ .tree + .tree:trt + (1 + trt | trial),
             d_glmertree_FEint_RT = y ~ .tree + .tree:trt + (trial + (0 + trt | trial)))
out <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
            control = "glmerControl(optimizer = 'bobyqa', tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5, rhoend = 1e-12))")
hess_scaled <- function(fun, x, h) {
  n <- length(x); f0 <- fun(x); H <- matrix(NA, n, n)
  for (j in 1:n) {
    ej <- replace(numeric(n), j, h[j])
    H[j, j] <- (fun(x + ej) - 2 * f0 + fun(x - ej)) / h[j]^2
    if (j > 1) for (i in 1:(j - 1)) {
      ei <- replace(numeric(n), i, h[i])
      H[i, j] <- H[j, i] <- (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) +
                               fun(x - ei - ej)) / (4 * h[i] * h[j])
    }
  }
  H
}
for (k in names(fits)) {
  d$.tree <- factor(e[[k]]$tree$fitted_node)
  g <- glmer(fits[[k]], data = d, family = binomial, control = ctrl)
  # vcov(glmer) differentiates the deviance with one absolute step 1e-4; as a stable R
  # value also the Hessian of lme4's own deviance function (devFunOnly = TRUE, same
  # control) by central differences (lme4's deriv12 formula) with per-parameter steps
  # 1e-3 x (max(|theta|, 0.1), fixed-effect SEs): vcov = 2 * solve(H)[beta, beta]
  dd <- update(g, devFunOnly = TRUE)
  th <- getME(g, "theta"); x0 <- c(th, fixef(g))
  H <- hess_scaled(dd, x0, 1e-3 * c(pmax(abs(th), 0.1), sqrt(diag(as.matrix(vcov(g))))))
  out[[k]] <- list(fixef_names = names(fixef(g)), fixef = unname(fixef(g)),
                   fixef_se = unname(sqrt(diag(as.matrix(vcov(g))))), theta = unname(th),
                   logLik = as.numeric(logLik(g)),
                   fixef_se_devfun_hessian = unname(sqrt(diag(2 * solve(H)[-seq_along(th), -seq_along(th)]))))
}
jsonlite::write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
