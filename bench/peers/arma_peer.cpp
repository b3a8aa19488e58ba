// Armadillo peer for bench/run.sh:
//   arma_peer X.f64 init.f64 N D K ITERS REPEATS
// X.f64: N x D little-endian float64, row-major (one sample per row).
// init.f64: the start, K weights, then K x D means, then K x D x D
// covariances, all row-major float64 (written by bench/bench.py from
// init.json).
//
// Each repeat: gmm_full::set_params(means, covs, hefts), then ITERS calls
// of learn(X, K, eucl_dist, keep_existing, km_iter 0, em_iter 1, var_floor
// 0, quiet), each timed on its own. One call per iteration keeps the
// count exact (learn() stops early when the change is below machine
// epsilon). var_floor 0 becomes the smallest positive double inside
// Armadillo: it is a floor on diagonal entries, not scikit-learn's
// additive reg_covar, so no regularisation is applied. The score is
// avg_log_p(X) of the final model. Compiled with -fopenmp: the EM runs
// over samples on OMP_NUM_THREADS threads. Prints one JSON line.
// With BENCH_BUDGET_S set in the environment, the repeats stop once the
// timed iterations have taken that many seconds in all (at least one
// repeat runs); "repeats" in the output is the number that ran.
#include <armadillo>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

static bool read_raw(const char *path, double *dst, size_t count)
{
    FILE *f = std::fopen(path, "rb");
    if (!f)
        return false;
    size_t got = std::fread(dst, sizeof(double), count, f);
    std::fclose(f);
    return got == count;
}

static double budget_seconds()
{
    const char *s = std::getenv("BENCH_BUDGET_S");
    double v = s ? std::strtod(s, nullptr) : 0.0;
    return v > 0.0 ? v : 0.0;
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        std::fprintf(stderr, "usage: arma_peer X.f64 init.f64 N D K ITERS "
                             "REPEATS\n");
        return 2;
    }
    const arma::uword n = std::strtoul(argv[3], nullptr, 10);
    const arma::uword d = std::strtoul(argv[4], nullptr, 10);
    const arma::uword k = std::strtoul(argv[5], nullptr, 10);
    const int iters = std::atoi(argv[6]), repeats = std::atoi(argv[7]);
    if (n < 1 || d < 1 || k < 1 || iters < 1 || repeats < 1) {
        std::fprintf(stderr, "arma_peer: bad arguments\n");
        return 2;
    }
    // Row-major N x D read straight into column-major D x N: one sample
    // per column, as Armadillo's gmm classes want.
    arma::mat X(d, n);
    std::vector<double> init(k + k * d + k * d * d);
    if (!read_raw(argv[1], X.memptr(), n * d) ||
        !read_raw(argv[2], init.data(), init.size())) {
        std::fprintf(stderr, "arma_peer: cannot read the inputs\n");
        return 2;
    }
    arma::rowvec hefts(k);
    arma::mat means(d, k);      // row-major K x D == column-major D x K
    arma::cube fcovs(d, d, k);  // symmetric: either order reads the same
    std::copy(init.begin(), init.begin() + k, hefts.begin());
    std::copy(init.begin() + k, init.begin() + k + k * d, means.begin());
    std::copy(init.begin() + k + k * d, init.end(), fcovs.begin());

    std::vector<double> iter_s;
    double score = 0.0, spent = 0.0;
    const double budget = budget_seconds();
    int done = 0;
    for (int r = 0; r < repeats; r++) {
        arma::gmm_full model;
        model.set_params(means, fcovs, hefts);
        for (int it = 0; it < iters; it++) {
            auto t0 = std::chrono::steady_clock::now();
            bool ok = model.learn(X, k, arma::eucl_dist, arma::keep_existing,
                                  0, 1, 0.0, false);
            auto t1 = std::chrono::steady_clock::now();
            if (!ok) {
                std::fprintf(stderr, "arma_peer: learn() failed at "
                                     "iteration %d\n", it + 1);
                return 1;
            }
            iter_s.push_back(std::chrono::duration<double>(t1 - t0).count());
            spent += iter_s.back();
        }
        score = model.avg_log_p(X);
        done = r + 1;
        if (budget > 0.0 && spent >= budget)
            break;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    std::printf("{\"peer\": \"armadillo\", \"version\": \"%s\", "
                "\"n_samples\": %llu, \"n_features\": %llu, "
                "\"n_components\": %llu, \"iters\": %d, \"repeats\": %d, "
                "\"seconds_per_iter_median\": %.6g, \"iter_seconds\": [",
                arma::arma_version::as_string().c_str(),
                (unsigned long long)n, (unsigned long long)d,
                (unsigned long long)k, iters, done, median(iter_s));
    for (size_t i = 0; i < iter_s.size(); i++)
        std::printf("%s%.6g", i ? ", " : "", iter_s[i]);
    std::printf("], \"score\": %.17g, \"maxrss_kb\": %ld}\n", score,
                ru.ru_maxrss);
    return 0;
}
