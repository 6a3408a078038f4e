## Two-stage ITE on a time-to-event treatment NETWORK (3 treatments, two 3-arm trials, trials comparing different pairs):
## stage 1 per-trial coxph(Surv(time, event) ~ trt * (x1 + x2), ties = "efron") with the trial's alphabetically first arm
## as reference (and survreg Weibull with the same formula); stage 2 network multivariate meta-analysis of the log-HR
## treatment blocks with metafor::rma.mv (REML with the consistency structure, and fixed/GLS), as the
## ite_network_multiarm reference states it; pooled log-HR ITEs for the test patients; absolute ITEs (S(1.5), RMST(2))
## with the per-trial Breslow baselines (survfit ctype = 1) anchored as ipdma's network mvma does (see below), with
## delta-method SEs by central differences.
## Run from this folder: python make_data.py; Rscript make.R  (reads train.csv, test.csv; writes expected.json)
suppressPackageStartupMessages({library(survival); library(metafor)})
stopifnot(requireNamespace("jsonlite"))
num <- function(x) unname(as.numeric(x))
train <- read.csv("train.csv", stringsAsFactors = FALSE); test <- read.csv("test.csv")
xs <- c("x1", "x2"); p <- length(xs)
trts <- sort(unique(train$trt)); ref <- trts[1]; nb <- trts[-1]
pars <- c("delta", paste0("gamma_", seq_len(p))); npar <- length(pars)
basic <- as.vector(t(outer(paste0(nb, "-", ref), pars, paste, sep = ":")))
trials <- sort(unique(train$trial)); K <- length(trials)
fml <- Surv(time, event) ~ trt * (x1 + x2)
horizon <- 1.5; tau <- 2

st1 <- vector("list", K); wb <- vector("list", K); rows <- list(); Sblocks <- vector("list", K); fits <- vector("list", K)
for (i in seq_len(K)) {
  dl <- train[train$trial == trials[i], ]
  a <- sort(unique(dl$trt)); dl$trt <- factor(dl$trt, levels = a); r <- a[1]; oth <- a[-1]
  f <- coxph(fml, data = dl, ties = "efron", control = coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 100))
  tn <- as.vector(sapply(oth, function(k) c(paste0("trt", k), paste0("trt", k, ":", xs))))
  b <- coef(f)[tn]; Vb <- vcov(f)[tn, tn]
  sf <- survfit(f, newdata = data.frame(trt = factor(r, levels = a), x1 = 0, x2 = 0), ctype = 1)
  st1[[i]] <- list(trial = trials[i], arms = a, reference_arm = r, n = f$n, nevent = f$nevent, coef_names = tn,
                   coef = num(b), vcov = unname(Vb), all_coef_names = names(coef(f)), all_coef = num(coef(f)),
                   loglik = num(f$loglik[2]), baseline_times = num(sf$time), baseline_cumhaz = num(sf$cumhaz))
  fits[[i]] <- list(f = f, a = a, sf = sf)
  w <- survreg(fml, data = dl, dist = "weibull", control = survreg.control(rel.tolerance = 1e-12, maxiter = 100))
  ## log-hazard block -coef/scale with its delta-method covariance over (coef, log(scale))
  sc <- w$scale; cw <- coef(w); th <- -cw[tn] / sc
  J <- matrix(0, length(tn), length(cw) + 1); J[cbind(seq_along(tn), match(tn, names(cw)))] <- -1 / sc; J[, ncol(J)] <- -th
  wb[[i]] <- list(trial = trials[i], coef_names = tn, loghaz_coef = num(th), loghaz_vcov = unname(J %*% w$var %*% t(J)),
                  all_coef_names = names(cw), all_coef = num(cw), log_scale = log(sc), loglik = num(w$loglik[2]))
  Sblocks[[i]] <- unname(Vb)
  for (k in oth) for (q in seq_len(npar))
    rows[[length(rows) + 1]] <- data.frame(trial = trials[i], treat = k, base = r, par = pars[q],
                                           yi = num(b[(match(k, oth) - 1) * npar + q]), stringsAsFactors = FALSE)
}
sd2 <- do.call(rbind, rows); sd2$row <- factor(seq_len(nrow(sd2))); N <- nrow(sd2)
Xd <- matrix(0, N, length(basic), dimnames = list(NULL, basic))
for (j in seq_len(N)) {
  if (sd2$treat[j] != ref) Xd[j, paste0(sd2$treat[j], "-", ref, ":", sd2$par[j])] <- 1
  if (sd2$base[j] != ref) Xd[j, paste0(sd2$base[j], "-", ref, ":", sd2$par[j])] <- -1
}
stopifnot(qr(Xd)$rank == ncol(Xd))
V <- bldiag(Sblocks)
## consistency structure: one tau2 per parameter type q, M_q[i, j] = 1 (i = j, type q), 1/2 (same trial, both of type q,
## different contrasts vs the trial's reference arm), 0 otherwise; marginal covariance V + sum_q tau2_q M_q
Mq <- lapply(pars, function(q) {
  m <- outer(seq_len(N), seq_len(N), function(i, j) ifelse(sd2$par[i] == q & sd2$par[j] == q & sd2$trial[i] == sd2$trial[j],
                                                       ifelse(i == j, 1, 0.5), 0))
  dimnames(m) <- list(levels(sd2$row), levels(sd2$row)); m })
for (q in seq_len(npar)) sd2[[paste0("re_", q)]] <- sd2$row
Rlist <- setNames(Mq, paste0("re_", seq_len(npar)))
rnd <- lapply(seq_len(npar), function(q) as.formula(paste0("~ 1 | re_", q)))
ctrl <- list(optimizer = "optim", optmethod = "Nelder-Mead", reltol = 1e-14, maxit = 1e5)
m_reml <- rma.mv(yi, V, mods = Xd, intercept = FALSE, random = rnd, R = Rlist, Rscale = "none", data = sd2,
                 method = "REML", control = ctrl)
m_reml_2 <- rma.mv(yi, V, mods = Xd, intercept = FALSE, random = rnd, R = Rlist, Rscale = "none", data = sd2,
                   method = "REML", control = list(optimizer = "nlm"))
m_fix <- rma.mv(yi, V, mods = Xd, intercept = FALSE, data = sd2)
pool <- function(m) list(coef_names = basic, coef = num(coef(m)), se = num(m$se), vcov = unname(vcov(m)),
                         tau2 = if (is.null(m$sigma2)) NULL else num(m$sigma2), tau2_names = pars, logLik = num(logLik(m)))

## ---------------- predictions for the test patients ----------------
Xt <- as.matrix(test[, xs]); Nt <- nrow(Xt); C <- cbind(1, Xt)
H_at <- function(sf, t) { k <- findInterval(t, sf$time); if (k == 0) 0 else sf$cumhaz[k] }
rmst_step <- function(sf, tau, e) {                     # exact area under exp(-H0(t) e^eta) on [0, tau]
  tt <- sf$time[sf$time < tau]; left <- c(0, tt); w <- diff(c(left, tau)); Hs <- c(0, sf$cumhaz[seq_along(tt)])
  sapply(e, function(ei) sum(exp(-Hs * exp(ei)) * w)) }
arm_eta <- function(fi, x) {                            # (Nt, m) fitted log hazard of each arm of the trial
  cf <- coef(fi$f); sapply(fi$a, function(k) {
    v <- drop(x %*% cf[xs]); if (k != fi$a[1]) v <- v + cf[paste0("trt", k)] + drop(x %*% cf[paste0("trt", k, ":", xs)]); v }) }
## absolute arm values: trial l anchors the reference at a_l(x) = mean over its arms k of [eta_lk(x) - P_k(x)] (P the pooled
## basic log hazard ratio vs the reference, P_ref = 0); treatment t gets mean_l f_l(a_l(x) + P_t(x))
arm_values <- function(theta, what) {
  P <- cbind(0, sapply(seq_along(nb), function(j) drop(C %*% theta[(j - 1) * npar + seq_len(npar)]))); colnames(P) <- trts
  A <- matrix(0, Nt, length(trts))
  for (fi in fits) {
    anchor <- rowMeans(arm_eta(fi, Xt) - P[, fi$a, drop = FALSE])
    for (j in seq_along(trts)) {
      e <- anchor + P[, j]
      A[, j] <- A[, j] + (if (what == "surv") exp(-H_at(fi$sf, horizon) * exp(e)) else rmst_step(fi$sf, tau, e)) / K
    } }
  A }
absolute <- function(m, what) {
  th <- num(coef(m)); Vt <- vcov(m); A <- arm_values(th, what)
  ite <- A[, -1, drop = FALSE] - A[, 1]
  G <- array(0, c(Nt, length(nb), length(th)))
  for (j in seq_along(th)) { h <- 1e-6 * max(1, abs(th[j])); up <- th; dn <- th; up[j] <- up[j] + h; dn[j] <- dn[j] - h
    Au <- arm_values(up, what); Ad <- arm_values(dn, what)
    G[, , j] <- ((Au[, -1] - Au[, 1]) - (Ad[, -1] - Ad[, 1])) / (2 * h) }
  se <- sapply(seq_along(nb), function(k) sapply(seq_len(Nt), function(n) sqrt(drop(t(G[n, k, ]) %*% Vt %*% G[n, k, ]))))
  list(treatments = trts, arm_values = unname(A), ite_vs_ref = unname(ite), se_vs_ref = unname(se)) }
loghr <- function(m) { th <- num(coef(m)); Vt <- vcov(m)
  ite <- sapply(seq_along(nb), function(j) drop(C %*% th[(j - 1) * npar + seq_len(npar)]))
  se <- sapply(seq_along(nb), function(j) { ix <- (j - 1) * npar + seq_len(npar); sqrt(rowSums((C %*% Vt[ix, ix]) * C)) })
  list(ite_vs_ref = unname(ite), se_vs_ref = unname(se)) }

out <- list(
  data = list(train = "train.csv", test = "test.csv", treatments = trts, reference = ref, covariates = xs, n_trials = K,
              horizon = horizon, tau = tau, outcome_direction = "longer survival is better"),
  stage1_cox = st1, stage1_weibull = wb,
  stage2_REML_consistency = c(pool(m_reml), list(second_optimizer = pool(m_reml_2),
     random_structure = "V + sum_q tau2_q M_q, one tau2 per parameter type (delta, gamma_1, gamma_2), 1/2 between contrasts of one trial")),
  stage2_fixed = pool(m_fix),
  predictions = list(
    reml = list(loghr = loghr(m_reml), survdiff = absolute(m_reml, "surv"), rmstdiff = absolute(m_reml, "rmst")),
    fixed = list(loghr = loghr(m_fix), survdiff = absolute(m_fix, "surv"), rmstdiff = absolute(m_fix, "rmst"))),
  versions = list(R = R.version.string, survival = as.character(packageVersion("survival")),
                  metafor = as.character(packageVersion("metafor"))))
jsonlite::write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE)
cat("tau2 REML:", m_reml$sigma2, " (nlm:", m_reml_2$sigma2, ")\n")
