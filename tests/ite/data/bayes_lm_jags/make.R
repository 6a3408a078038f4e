# Reference posterior of the Bayesian linear learner (ipdma.ite.BayesLMLearner with its
# default prior, the method's) for one 50-patient trial, computed with JAGS (the paper's
# tool) through rjags. Model: design (1, t, x, t*x) on the original covariate scale;
# every coefficient ~ N(0, variance 1000) independently; sigma ~ U(0, 10).
# 4 chains x 50000 iterations after 5000 burn-in (glm module: block updates), so the
# Monte Carlo error of the means is ~0.003 posterior SD and of the SDs ~0.3 %.
# Stored: posterior mean and SD of all coefficients, of (delta, gamma) and of sigma.
#   python make_data.py && Rscript make.R   (writes trial.csv, then expected.json)
suppressPackageStartupMessages({library(rjags); library(jsonlite)})
load.module("glm", quiet = TRUE)
d <- read.csv("trial.csv")
X <- as.matrix(d[, grep("^x", names(d))]); t <- d$t; y <- d$y
Z <- cbind(1, t, X, t * X)
n <- nrow(Z); q <- ncol(Z); p <- ncol(X)
model <- "model {
  for (i in 1:n) { y[i] ~ dnorm(inprod(Z[i, ], beta[]), 1 / (sigma * sigma)) }
  for (j in 1:q) { beta[j] ~ dnorm(0, 1 / 1000) }
  sigma ~ dunif(0, 10)
}"
inits <- lapply(1:4, function(k) list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = k))
jm <- jags.model(textConnection(model), data = list(y = y, Z = Z, n = n, q = q),
                 inits = inits, n.chains = 4, quiet = TRUE)
update(jm, 5000, progress.bar = "none")
sm <- coda.samples(jm, c("beta", "sigma"), n.iter = 50000, progress.bar = "none")
draws <- as.matrix(sm)
beta <- draws[, sprintf("beta[%d]", 1:q)]
theta <- beta[, c(2, (p + 3):(2 * p + 2))]
out <- list(
  description = paste("JAGS posterior of the full-interaction linear model, N(0, 1000)",
                      "priors, sigma ~ U(0, 10); 4 chains x 50000 after 5000 burn-in"),
  rjags_version = as.character(packageVersion("rjags")),
  columns = c("(Intercept)", "t", colnames(X), paste0("t:", colnames(X))),
  beta_mean = unname(colMeans(beta)), beta_sd = unname(apply(beta, 2, sd)),
  theta_mean = unname(colMeans(theta)), theta_sd = unname(apply(theta, 2, sd)),
  theta_ess = unname(coda::effectiveSize(coda::as.mcmc(theta))),
  sigma_mean = mean(draws[, "sigma"]), sigma_sd = sd(draws[, "sigma"]),
  rhat_max = max(gelman.diag(sm, multivariate = FALSE)$psrf[, 1]))
write_json(out, "expected.json", digits = 10, auto_unbox = TRUE, pretty = TRUE)
