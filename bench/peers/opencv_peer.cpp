// OpenCV peer for bench/run.sh:
//   opencv_peer X.f64 init.f64 N D K ITERS REPEATS [whole]
// Inputs as for arma_peer (raw row-major float64, written by bench.py).
// BENCH_BUDGET_S: as for arma_peer.
//
// cv::ml::EM with COV_MAT_GENERIC. Each repeat starts with
// trainE(X, means0, covs0, weights0) limited to one E-step (untimed: it
// only turns the start into responsibilities), then runs ITERS iterations
// as ITERS calls of trainM(X, probs) with TermCriteria(COUNT, 1): each
// call is one M-step and one E-step, timed on its own. The score is the
// mean of the per-sample log-likelihoods of the last call, i.e. of the
// model after ITERS M-steps, as scikit-learn's score(X) after ITERS
// iterations.
//
// With "whole": one trainE(..., TermCriteria(COUNT, ITERS + 1)) call per
// repeat instead: trainE starts with an E-step and stops after its
// (ITERS+1)-th E-step, so it makes ITERS M-steps and its last
// log-likelihoods score the same model. Reported time per iteration is
// then the whole call divided by ITERS (it includes one extra E-step).
//
// OpenCV's EM loops over samples on one thread (no parallel_for_ in
// em.cpp); it has no additive regularisation (eigenvalues are clamped at
// DBL_EPSILON). Prints one JSON line.
#include <opencv2/core.hpp>
#include <opencv2/ml.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

static double now()
{
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int main(int argc, char **argv)
{
    if (argc != 8 && !(argc == 9 && std::strcmp(argv[8], "whole") == 0)) {
        std::fprintf(stderr, "usage: opencv_peer X.f64 init.f64 N D K ITERS "
                             "REPEATS [whole]\n");
        return 2;
    }
    const int n = std::atoi(argv[3]), d = std::atoi(argv[4]),
              k = std::atoi(argv[5]), iters = std::atoi(argv[6]),
              repeats = std::atoi(argv[7]);
    const bool whole = argc == 9;
    if (n < 1 || d < 1 || k < 1 || iters < 1 || repeats < 1) {
        std::fprintf(stderr, "opencv_peer: bad arguments\n");
        return 2;
    }
    cv::Mat X(n, d, CV_64F);
    std::vector<double> init((size_t)k * (1 + d + (size_t)d * d));
    if (!read_raw(argv[1], X.ptr<double>(), (size_t)n * d) ||
        !read_raw(argv[2], init.data(), init.size())) {
        std::fprintf(stderr, "opencv_peer: cannot read the inputs\n");
        return 2;
    }
    cv::Mat weights0(1, k, CV_64F, init.data());
    cv::Mat means0(k, d, CV_64F, init.data() + k);
    std::vector<cv::Mat> covs0;
    for (int c = 0; c < k; c++)
        covs0.push_back(cv::Mat(d, d, CV_64F,
                                init.data() + k + (size_t)k * d +
                                    (size_t)c * d * d));

    std::vector<double> iter_s, call_s;
    double score = 0.0, spent = 0.0;
    const double budget = budget_seconds();
    int done = 0;
    for (int r = 0; r < repeats; r++) {
        cv::Ptr<cv::ml::EM> em = cv::ml::EM::create();
        em->setClustersNumber(k);
        em->setCovarianceMatrixType(cv::ml::EM::COV_MAT_GENERIC);
        cv::Mat ll, labels, probs, probs_next;
        if (whole) {
            em->setTermCriteria(
                cv::TermCriteria(cv::TermCriteria::COUNT, iters + 1, 0.0));
            double t0 = now();
            bool ok = em->trainE(X, means0, covs0, weights0, ll, labels,
                                 probs);
            double t = now() - t0;
            if (!ok) {
                std::fprintf(stderr, "opencv_peer: trainE failed\n");
                return 1;
            }
            call_s.push_back(t);
            iter_s.push_back(t / iters);
        } else {
            em->setTermCriteria(
                cv::TermCriteria(cv::TermCriteria::COUNT, 1, 0.0));
            if (!em->trainE(X, means0, covs0, weights0, ll, labels, probs)) {
                std::fprintf(stderr, "opencv_peer: trainE failed\n");
                return 1;
            }
            double tr = 0.0;
            for (int it = 0; it < iters; it++) {
                double t0 = now();
                bool ok = em->trainM(X, probs, ll, labels, probs_next);
                double t = now() - t0;
                if (!ok) {
                    std::fprintf(stderr, "opencv_peer: trainM failed at "
                                         "iteration %d\n", it + 1);
                    return 1;
                }
                iter_s.push_back(t);
                tr += t;
                std::swap(probs, probs_next);
            }
            call_s.push_back(tr);
        }
        score = cv::mean(ll)[0];
        spent += call_s.back();
        done = r + 1;
        if (budget > 0.0 && spent >= budget)
            break;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    std::printf("{\"peer\": \"opencv\", \"version\": \"%s\", \"mode\": "
                "\"%s\", \"n_samples\": %d, \"n_features\": %d, "
                "\"n_components\": %d, \"iters\": %d, \"repeats\": %d, "
                "\"seconds_per_iter_median\": %.6g, \"iter_seconds\": [",
                CV_VERSION, whole ? "trainE" : "trainE+trainM", n, d, k,
                iters, done, median(iter_s));
    for (size_t i = 0; i < iter_s.size(); i++)
        std::printf("%s%.6g", i ? ", " : "", iter_s[i]);
    std::printf("], \"score\": %.17g, \"maxrss_kb\": %ld}\n", score,
                ru.ru_maxrss);
    return 0;
}
