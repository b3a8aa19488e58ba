#!/bin/sh
# The hidden Markov model demo: install, build, fit a three-state Gaussian
# HMM to six nights of a fox's GPS steps (data/tracks.csv, see
# data/make_tracks.py), decode the behaviour behind every step, and compare
# it with the true behaviours (data/tracks-states.txt). The model and the
# decoded states are kept in build/hmm-demo/.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -d build ] || meson setup build
meson compile -C build
emgmm=build/tools/emgmm
out=build/hmm-demo
mkdir -p "$out"

echo "== Fit: 3 states, full covariances, one sequence per night"
$emgmm hmm fit data/tracks.csv -k 3 -c full \
    --lengths data/tracks-lengths.txt --seed 0 --json -o "$out/hmm.json"

echo "== Decode: the most probable behaviour of every step (Viterbi)"
$emgmm hmm decode "$out/hmm.json" data/tracks.csv \
    --lengths data/tracks-lengths.txt -o "$out/states.csv" --json

echo "== Each decoded state, named by its typical step length"
# Per decoded state: steps, the mean of each feature, and the true
# behaviours of its steps; then the agreement with the true behaviours
# under the best naming of the three states.
awk -F, '
FILENAME == ARGV[1] { if (FNR > 1) { step[FNR - 1] = $1; turn[FNR - 1] = $2 }
                      next }
FILENAME == ARGV[2] { dec[FNR] = $1 + 0; next }
                    { tru[FNR] = $1 + 0; n = FNR }
END {
    for (i = 1; i <= n; i++) {
        s = dec[i]
        cnt[s]++; ms[s] += step[i]; mt[s] += turn[i]; conf[s, tru[i]]++
    }
    name[0] = "resting"; name[1] = "foraging"; name[2] = "travelling"
    # rank the states by mean log step: short steps are resting
    for (s = 0; s < 3; s++) {
        mean[s] = cnt[s] ? ms[s] / cnt[s] : 1e300
        rank[s] = 0
    }
    for (s = 0; s < 3; s++)
        for (t = 0; t < 3; t++)
            if (mean[t] < mean[s] || (mean[t] == mean[s] && t < s))
                rank[s]++
    printf "%-6s %-11s %6s %12s %10s %9s   true: %s/%s/%s\n", "state",
           "behaviour", "steps", "log_step_m", "(metres)", "turn_cos",
           "rest", "forage", "travel"
    for (s = 0; s < 3; s++) {
        if (!cnt[s]) { printf "%-6d (no step decoded in this state)\n", s
                       continue }
        printf "%-6d %-11s %6d %12.3f %10.1f %9.3f   %d/%d/%d\n", s,
               name[rank[s]], cnt[s], ms[s] / cnt[s], exp(ms[s] / cnt[s]),
               mt[s] / cnt[s], conf[s, 0], conf[s, 1], conf[s, 2]
    }
    # the best of the six namings of the three states
    best = 0; named = 0
    split("012 021 102 120 201 210", perms, " ")
    for (p = 1; p <= 6; p++) {
        hit = 0
        for (s = 0; s < 3; s++)
            hit += conf[s, substr(perms[p], s + 1, 1) + 0]
        if (hit > best) best = hit
    }
    for (s = 0; s < 3; s++) named += conf[s, rank[s]]
    printf "\nsteps: %d; decoded states agree with the true behaviours on " \
           "%.1f %% of them\n(naming the states by step length: %.1f %%)\n",
           n, 100 * best / n, 100 * named / n
}' data/tracks.csv "$out/states.csv" data/tracks-states.txt
echo "(model: $out/hmm.json, states: $out/states.csv)"
