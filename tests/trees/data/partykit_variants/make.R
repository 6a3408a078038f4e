# Reference for ipdma.trees.MOB in settings the shared reference pack does not cover:
# glmtree (binomial), case weights, offset, multiway categorical splits, clustered
# score tests, BIC post-pruning, parm = 2 with absolute trimming (trim = 50).
# data.csv: n = 1500 simulated rows (numpy seed 5; make_data.py). Stored per tree: the
# printed tree, logLik, the terminal node of every row, each inner node's test
# statistics and the tree depth (partykit's depth(), root = FALSE and TRUE).
# Made with R 4.2.2, partykit 1.2-16.
#   python make_data.py && Rscript make.R      (writes data.csv, then expected.json)
suppressMessages(library(partykit))
d <- read.csv("data.csv"); d$f <- factor(d$f)
d$o <- factor(d$o, levels = c("lo", "mid", "hi"), ordered = TRUE)
f <- y ~ trt | x1 + x2 + f + o
fits <- list(
  glm = glmtree(yb ~ trt | x1 + x2 + f + o, data = d, family = binomial),
  weights = lmtree(f, data = d, weights = w),
  offset = lmtree(f, data = d, offset = off),
  multiway = lmtree(f, data = d, catsplit = "multiway"),
  cluster = lmtree(f, data = d, cluster = cl),
  bic = lmtree(f, data = d, alpha = 0.5, prune = "BIC"),
  parm_trim = lmtree(f, data = d, parm = 2, trim = 50))
out <- lapply(fits, function(tr) {
  st <- nodeapply(tr, ids = nodeids(tr), FUN = function(n) {
    t <- info_node(n)$test; if (is.null(t)) NULL else unname(t["statistic", ])})
  list(print = capture.output(print(tr)), logLik = as.numeric(logLik(tr)),
       fitted = unname(predict(tr, type = "node")), stat = unname(st),
       depth = depth(tr), depth_root = depth(tr, root = TRUE))
})
jsonlite::write_json(out, "expected.json", digits = NA, auto_unbox = TRUE, null = "null")
