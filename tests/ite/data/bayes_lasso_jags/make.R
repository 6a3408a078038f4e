# Reference posterior of the Bayesian LASSO learner (Park-Casella prior on the treatment
# interactions) for one small trial, computed with JAGS (the paper's tool) through rjags.
# Model (identical to ipdma.ite.BayesLassoLearner): continuous covariates standardised
# within the trial (mean, sd with n-1), 0/1 columns left as they are; design
# (1, t, x, t*x); intercept, t and x main effects ~ N(0, 1000); sigma ~ U(0, 10);
# lambda2 ~ Gamma(0.01, 0.01); tau2_j ~ Exp(lambda2 / 2); gamma_j ~ N(0, sigma^2 tau2_j).
# The treatment coefficients are mapped back to the original covariate scale:
# gamma = gamma_s / sd, delta = delta_s - sum(gamma * mean).
#   Rscript make.R      (writes expected.json; about a minute)
suppressPackageStartupMessages({library(rjags); library(jsonlite)})
d <- read.csv("trial.csv")
X <- as.matrix(d[, grep("^x", names(d))]); t <- d$t; y <- d$y
binary <- apply(X, 2, function(v) all(v %in% c(0, 1)))
mu <- ifelse(binary, 0, colMeans(X)); s <- ifelse(binary, 1, apply(X, 2, sd))
Xs <- sweep(sweep(X, 2, mu), 2, s, "/")
Zm <- cbind(1, t, Xs); Zi <- t * Xs
p <- ncol(X); n <- nrow(X)
model <- "model {
  for (i in 1:n) {
    y[i] ~ dnorm(inprod(Zm[i, ], main[]) + inprod(Zi[i, ], gamma[]), 1 / (sigma * sigma))
  }
  for (j in 1:(p + 2)) { main[j] ~ dnorm(0, 1 / 1000) }
  sigma ~ dunif(0, 10)
  lambda2 ~ dgamma(0.01, 0.01)
  for (j in 1:p) {
    tau2[j] ~ dexp(lambda2 / 2)
    gamma[j] ~ dnorm(0, 1 / (sigma * sigma * tau2[j]))
  }
}"
set.seed(20261121)
inits <- lapply(1:4, function(k) list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = k))
jm <- jags.model(textConnection(model), data = list(y = y, Zm = Zm, Zi = Zi, n = n, p = p),
                 inits = inits, n.chains = 4, quiet = TRUE)
update(jm, 5000, progress.bar = "none")
sm <- coda.samples(jm, c("main", "gamma", "sigma", "lambda2"), n.iter = 25000,
                   progress.bar = "none")
draws <- as.matrix(sm)
gs <- draws[, sprintf("gamma[%d]", 1:p), drop = FALSE]
gamma <- sweep(gs, 2, s, "/")
delta <- draws[, "main[2]"] - gamma %*% mu
theta <- cbind(delta, gamma)
ess <- coda::effectiveSize(coda::as.mcmc(theta))
out <- list(
  description = "JAGS posterior of (delta, gamma) on the original scale; 4 chains x 25000",
  rjags_version = as.character(packageVersion("rjags")),
  theta_mean = unname(colMeans(theta)), theta_sd = unname(apply(theta, 2, sd)),
  theta_ess = unname(ess),
  sigma_mean = mean(draws[, "sigma"]), lambda2_mean = mean(draws[, "lambda2"]),
  rhat_max = max(gelman.diag(sm, multivariate = FALSE)$psrf[, 1]))
write_json(out, "expected.json", digits = 10, auto_unbox = TRUE, pretty = TRUE)
