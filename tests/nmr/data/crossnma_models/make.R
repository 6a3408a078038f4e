# Long-chain crossnma 1.3.0 runs of the crossnma vignette models mod1, mod2, mod4 and mod5
# on the shared case nmr_crossnma_ms (IPD + AD), to give tighter Bayesian reference values
# than the vignette's 2 x 5,000 iterations rounded to 3 decimals. Same calls as the
# vignette; 4 chains x 20,000 iterations after 5,000 burn-in, seeds fixed by crossnma's
# inits (set.seed before each call). crossnma, meta, netmeta, metabook and CompQuadForm are
# not in Debian: installed from their CRAN source mirrors (R CMD INSTALL -l <lib>).
#   R_LIBS=/path/to/lib IPDMA_REFERENCE=/path/to/shared/reference Rscript make.R
suppressPackageStartupMessages({library(crossnma); library(jsonlite)})
ref <- Sys.getenv("IPDMA_REFERENCE", "../../../../../shared/reference")
ipddata <- read.csv(file.path(ref, "nmr_crossnma_ms/crossnma_ipddata.csv"))
stddata <- read.csv(file.path(ref, "nmr_crossnma_ms/crossnma_stddata.csv"))
models <- list(
  mod1 = function() crossnma.model(treat, id, relapse, n, design, prt.data = ipddata,
    std.data = stddata, method.bias = "naive", prior.tau.trt = "dunif(0, 3)"),
  mod2 = function() crossnma.model(treat, id, relapse, n, design, prt.data = ipddata,
    std.data = stddata, method.bias = "naive", cov1 = age, split.regcoef = FALSE),
  mod4 = function() crossnma.model(treat, id, relapse, n, design, prt.data = ipddata,
    std.data = stddata, method.bias = "adjust1", bias.type = "add", bias.effect = "common",
    bias = rob, unfav = unfavored, bias.group = bias.group, bias.covariate = year),
  mod5 = function() crossnma.model(treat, id, relapse, n, design, prt.data = ipddata,
    std.data = stddata, method.bias = "adjust2", bias.type = "add", bias = rob,
    unfav = unfavored, bias.group = bias.group))
out <- list(R = R.version.string, crossnma = as.character(packageVersion("crossnma")),
            settings = "n.chains = 4, n.iter = 25000, n.burnin = 5000, thin = 1")
for (k in names(models)) {
  set.seed(2026)
  m <- models[[k]]()
  t0 <- Sys.time()
  fit <- crossnma(m, n.chains = 4, n.iter = 25000, n.burnin = 5000, thin = 1)
  s <- as.data.frame(summary(fit, backtransf = FALSE))
  out[[k]] <- list(jags_model = m$model, seconds = as.numeric(difftime(Sys.time(), t0, units = "secs")),
                   summary = cbind(parameter = rownames(s), s))
  cat(k, "done\n"); print(s)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, dataframe = "rows"), "expected.json")
