# crossnma 1.3.0's mod4 (method.bias = "adjust1", bias covariate year) run in JAGS with 8
# chains that also monitor R, a, b: every chain stays in one bias configuration for all
# its draws (R = all 0 or all 1, b < 0 or b > 0), so a JAGS run's mixture weight of the
# two modes is set by its chains' starting points, not by the posterior. Per mode, JAGS
# mixes well: mod4_modes.json stores the per-chain and per-mode means (the reference for
# the conditional posteriors of CrossNMA's exact marginalisation).
#   R_LIBS=/path/to/lib IPDMA_REFERENCE=/path/to/shared/reference Rscript mod4_modes.R
suppressPackageStartupMessages({library(crossnma); library(rjags); library(jsonlite)})
ref <- Sys.getenv("IPDMA_REFERENCE", "../../../../../shared/reference")
ipddata <- read.csv(file.path(ref, "nmr_crossnma_ms/crossnma_ipddata.csv"))
stddata <- read.csv(file.path(ref, "nmr_crossnma_ms/crossnma_stddata.csv"))
set.seed(2026)
m <- crossnma.model(treat, id, relapse, n, design, prt.data = ipddata,
    std.data = stddata, method.bias = "adjust1", bias.type = "add", bias.effect = "common",
    bias = rob, unfav = unfavored, bias.group = bias.group, bias.covariate = year)
nc <- 8
inits <- lapply(1:nc, function(i) list(.RNG.seed = 100 + i, .RNG.name = "base::Mersenne-Twister"))
t0 <- Sys.time()
jm <- jags.model(textConnection(m$model), m$data, inits = inits, n.chains = nc,
                 n.adapt = 1000, quiet = TRUE)
update(jm, 2000)
s <- coda.samples(jm, c("d", "g", "tau", "R", "a", "b"), n.iter = 5000)
secs <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
summ <- function(x) list(mean = as.list(colMeans(x)), sd = as.list(apply(x, 2, sd)), n = nrow(x))
chains <- lapply(s, function(ch) summ(as.matrix(ch)))
allr <- sapply(s, function(ch) mean(as.matrix(ch)[, paste0("R[", 1:6, "]")]))
modes <- list(
  none_biased = summ(do.call(rbind, lapply(s[allr == 0], as.matrix))),
  all_biased = summ(do.call(rbind, lapply(s[allr == 1], as.matrix))))
writeLines(toJSON(list(R = R.version.string, crossnma = as.character(packageVersion("crossnma")),
  settings = "8 chains, n.adapt 1000, burn-in 2000, 5000 draws", seconds = secs,
  chain_mean_R = allr, chains = chains, modes = modes), digits = NA, auto_unbox = TRUE,
  pretty = TRUE), "mod4_modes.json")
