# R mclust peer for bench/run.sh:
#   Rscript mclust_peer.R X.f64 init.f64 N D K ITERS REPEATS
# Inputs as for arma_peer (raw row-major float64, written by bench.py).
#
# Model "VVV" (full covariances). Each repeat: z0 <- estep() on the start
# (untimed), then ITERS calls of me(z = z, itmax 1, tol 0), each one
# M-step and one E-step, timed on its own, each starting from the z of
# the previous call. The score is the last call's loglik / N, the mean
# log-likelihood of the model after ITERS M-steps (scikit-learn's score(X)
# after ITERS iterations). mclust has no additive reg_covar (only an
# optional prior), so with scikit-learn's reg_covar 1e-6 the results
# differ slightly. Prints one JSON line. With BENCH_BUDGET_S set in the
# environment, the repeats stop once the timed iterations have taken that
# many seconds in all (at least one repeat runs); "repeats" in the output
# is the number that ran.
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 7) {
  cat("usage: Rscript mclust_peer.R X.f64 init.f64 N D K ITERS REPEATS\n",
      file = stderr())
  quit(status = 2)
}
n <- as.integer(args[3]); d <- as.integer(args[4]); k <- as.integer(args[5])
iters <- as.integer(args[6]); repeats <- as.integer(args[7])
suppressPackageStartupMessages(library(mclust))

read_raw <- function(path, count) {
  con <- file(path, "rb")
  on.exit(close(con))
  v <- readBin(con, "double", n = count, size = 8, endian = "little")
  if (length(v) != count) stop(sprintf("%s: short read", path))
  v
}
X <- matrix(read_raw(args[1], n * d), nrow = n, ncol = d, byrow = TRUE)
init <- read_raw(args[2], k + k * d + k * d * d)
pro <- init[1:k]
mu <- matrix(init[k + seq_len(k * d)], nrow = d, ncol = k)  # one column each
sigma <- array(init[k + k * d + seq_len(k * d * d)], dim = c(d, d, k))
cholsigma <- array(0, dim = c(d, d, k))
for (j in seq_len(k)) cholsigma[, , j] <- chol(sigma[, , j])
params <- list(pro = pro, mean = mu,
               variance = list(modelName = "VVV", d = d, G = k,
                               sigma = sigma, cholsigma = cholsigma))
ctrl <- emControl(tol = c(0, 0), itmax = c(1, .Machine$integer.max))

now <- function() as.numeric(Sys.time())
budget <- suppressWarnings(as.numeric(Sys.getenv("BENCH_BUDGET_S", "0")))
if (is.na(budget)) budget <- 0
iter_s <- numeric(0)
score <- NA
done <- 0L
for (r in seq_len(repeats)) {
  z <- estep(modelName = "VVV", data = X, parameters = params)$z
  for (it in seq_len(iters)) {
    t0 <- now()
    fit <- me(modelName = "VVV", data = X, z = z, control = ctrl)
    iter_s <- c(iter_s, now() - t0)
    if (is.null(fit$z) || !is.finite(fit$loglik)) {
      cat(sprintf("mclust_peer.R: me() failed at iteration %d\n", it),
          file = stderr())
      quit(status = 1)
    }
    z <- fit$z
  }
  score <- fit$loglik / n
  done <- r
  if (budget > 0 && sum(iter_s) >= budget) break
}
cat(sprintf(paste0('{"peer": "mclust", "version": "%s", "r_version": "%s", ',
                   '"n_samples": %d, "n_features": %d, "n_components": %d, ',
                   '"iters": %d, "repeats": %d, ',
                   '"seconds_per_iter_median": %.6g, "iter_seconds": [%s], ',
                   '"score": %.17g}\n'),
            as.character(packageVersion("mclust")),
            paste(R.version$major, R.version$minor, sep = "."),
            n, d, k, iters, done, median(iter_s),
            paste(sprintf("%.6g", iter_s), collapse = ", "), score))
