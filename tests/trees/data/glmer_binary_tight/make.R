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
for (k in names(fits)) {
  d$.tree <- factor(e[[k]]$tree$fitted_node)
  g <- glmer(fits[[k]], data = d, family = binomial, control = ctrl)
  out[[k]] <- list(fixef_names = names(fixef(g)), fixef = unname(fixef(g)),
                   fixef_se = unname(sqrt(diag(as.matrix(vcov(g))))), theta = unname(getME(g, "theta")),
                   logLik = as.numeric(logLik(g)))
}
jsonlite::write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
