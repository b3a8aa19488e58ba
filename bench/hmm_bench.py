#!/usr/bin/env python3
"""emgmm's hidden Markov models against hmmlearn 0.3.3 (bench/run.sh
--only hmm; see there for the options).

For every case it generates the sequences and one starting model with
bench/make_hmm_data.py, then, from exactly that start and for the same
number of Baum-Welch iterations, runs
  - emgmm (bench_hmm: emgmm_hmm_fit, and a mixture iteration of the same
    N, D, K from the HMM's emissions, for the HMM / mixture ratio),
  - hmmlearn's GaussianHMM with implementation="scaling",
  - hmmlearn's GaussianHMM with implementation="log"
(bench/hmm_peer.py), each in its own process with OPENBLAS_NUM_THREADS=2
and OMP_NUM_THREADS=2 (emgmm n_threads = 2). The three alternate: round r
runs them in an order rotated by r; a peer stops repeating once its
fits have taken `budget_s` seconds (hmmlearn at D=64 makes 1-3 fits),
emgmm always makes every round. Seconds per iteration are medians over
every timed iteration of every round. The dgemm rate is measured at the
start of the same run. Writes results-hmm.md and results-hmm.json into
--out-dir and prints the Markdown.
"""
import argparse
import datetime
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time

import bench  # bench/bench.py: process running, machine facts, formatting

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
IMPLS = ["emgmm", "scaling", "log"]
NAMES = {"emgmm": "emgmm", "scaling": "hmmlearn, scaling",
         "log": "hmmlearn, log"}

# n_seq x seq_len rows; "start": which start file (full or diagonal
# covariances); iters: Baum-Welch iterations of every implementation;
# rounds: at most this many rounds (each runs emgmm's bench_hmm with
# emgmm_repeats repeats, HMM and mixture alternating, and one fit of each
# hmmlearn implementation); budget_s (the plan's, or the
# case's own): a peer stops repeating once its fits add up to this, so
# that hmmlearn at D=64 (13-35 s per iteration) makes 1-3 fits; target: emgmm's speed-up over hmmlearn's
# faster implementation asked for.
FULL = {
    "cases": [
        {"n_seq": 100, "seq_len": 1000, "d": 16, "k": 8, "type": "full",
         "iters": 5, "rounds": 5, "target": 10},
        {"n_seq": 100, "seq_len": 1000, "d": 16, "k": 8, "type": "diag",
         "iters": 5, "rounds": 5, "target": 5},
        {"n_seq": 100, "seq_len": 1000, "d": 64, "k": 16, "type": "full",
         "iters": 3, "rounds": 3, "target": 40, "budget_s": 90.0},
        {"n_seq": 1, "seq_len": 1000000, "d": 4, "k": 4, "type": "full",
         "iters": 5, "rounds": 5, "target": None},
    ],
    "budget_s": 20.0, "timeout_s": 600, "emgmm_repeats": 3,
}
QUICK = {
    "cases": [
        {"n_seq": 20, "seq_len": 500, "d": 16, "k": 8, "type": "full",
         "iters": 2, "rounds": 2, "target": 10},
        {"n_seq": 20, "seq_len": 500, "d": 16, "k": 8, "type": "diag",
         "iters": 2, "rounds": 2, "target": 5},
        {"n_seq": 10, "seq_len": 500, "d": 64, "k": 16, "type": "full",
         "iters": 2, "rounds": 2, "target": 40},
        {"n_seq": 1, "seq_len": 50000, "d": 4, "k": 4, "type": "full",
         "iters": 2, "rounds": 2, "target": None},
    ],
    "budget_s": 2.0, "timeout_s": 120, "emgmm_repeats": 2,
}
SEED = 0
HMM_RATIO_TARGET = 1.3


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr,
          flush=True)


def label(c):
    return "N={:,} ({} × {:,}) D={} K={} {}".format(
        c["n_seq"] * c["seq_len"], c["n_seq"], c["seq_len"], c["d"], c["k"],
        c["type"])


def ensure_data(c):
    """The case's folder from make_hmm_data.py, cached by its arguments
    and the script's hash."""
    with open(os.path.join(BENCH, "make_hmm_data.py"), "rb") as f:
        tag = hashlib.sha256(f.read()).hexdigest()[:10]
    folder = os.path.join(DATA_DIR, "hmm_q%d_t%d_d%d_k%d_s%d_%s" % (
        c["n_seq"], c["seq_len"], c["d"], c["k"], SEED, tag))
    x = os.path.join(folder, "X.npy")
    if not os.path.exists(x):
        t0 = time.monotonic()
        r = subprocess.run([sys.executable,
                            os.path.join(BENCH, "make_hmm_data.py"),
                            str(c["n_seq"]), str(c["seq_len"]), str(c["d"]),
                            str(c["k"]), str(SEED), folder],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("make_hmm_data.py failed: " + r.stderr.strip())
        log("generated %s in %.1f s" % (label(c), time.monotonic() - t0))
    return {"x": x, "lengths": os.path.join(folder, "lengths.txt"),
            "start": os.path.join(folder, "start.json" if c["type"] == "full"
                                  else "start-%s.json" % c["type"])}


def env_for(budget=None):
    env = bench.thread_env(2, budget)
    if HMMLEARN:
        env["PYTHONPATH"] = HMMLEARN + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_impl(impl, files, c, plan):
    if impl == "emgmm":
        cmd = [EXE, files["x"], files["lengths"], files["start"],
               str(c["iters"]), str(plan["emgmm_repeats"]), "2"]
    else:
        cmd = [sys.executable, os.path.join(BENCH, "hmm_peer.py"),
               files["x"], files["lengths"], files["start"], str(c["iters"]),
               "1", impl]
    return bench.measure(cmd, env_for(), plan["timeout_s"])


def part_cases(plan):
    out = []
    for ci, c in enumerate(plan["cases"]):
        files = ensure_data(c)
        runs = {i: [] for i in IMPLS}
        spent = {i: 0.0 for i in IMPLS}
        errors = {}
        for r in range(c["rounds"]):
            order = IMPLS[r % 3:] + IMPLS[:r % 3]
            for impl in order:
                if impl in errors:
                    continue
                if impl != "emgmm" and not HMMLEARN:
                    errors[impl] = "missing (hmmlearn not built: %s)" \
                        % HMMLEARN_WHY
                    continue
                if impl != "emgmm" and r > 0 and spent[impl] >= \
                        c.get("budget_s", plan["budget_s"]):
                    continue
                j = run_impl(impl, files, c, plan)
                if "error" in j:
                    errors[impl] = j["error"]
                    log("case %d %s: %s: %s" % (ci + 1, label(c), impl,
                                                 j["error"]))
                    continue
                if impl == "emgmm":
                    spent[impl] += sum(j["hmm"]["call_seconds"])
                    log("case %d %s, round %d: emgmm %.4g s/iter (mixture "
                        "%.4g), log-likelihood %.15g" % (
                            ci + 1, label(c), r + 1,
                            j["hmm"]["seconds_per_iter_median"],
                            j["mixture"]["seconds_per_iter_median"],
                            j["hmm"]["log_likelihood"]))
                else:
                    s = j["implementations"][impl]
                    spent[impl] += sum(s["call_seconds"])
                    log("case %d %s, round %d: hmmlearn %s %.4g s/iter, "
                        "log-likelihood %.15g" % (
                            ci + 1, label(c), r + 1, impl,
                            s["seconds_per_iter_median"],
                            s["log_likelihood"]))
                runs[impl].append(j)
        out.append({"case": c, "runs": runs, "errors": errors})
    return out


def summarise(row):
    """Per implementation: s/iter (median of every timed iteration),
    s/iter from the whole calls, fits, final log-likelihoods."""
    s = {}
    e = row["runs"]["emgmm"]
    if e:
        for part in ("hmm", "mixture"):
            its = [v for j in e for v in j[part]["iter_seconds"]]
            s["emgmm " + part] = {
                "median": statistics.median(its),
                "whole": statistics.median(
                    [(a - b) / j[part]["iters"] for j in e
                     for a, b in zip(j[part]["call_seconds"],
                                     j[part]["call0_seconds"])]),
                "timed": len(its), "fits": sum(j["repeats"] for j in e),
                "log_likelihood": e[-1][part]["log_likelihood"],
                "last_estep": e[-1][part]["last_estep"]}
        # The HMM against the mixture in the same process, per round (the
        # two run back to back, so that the machine's slow drifts cancel).
        s["paired_ratio"] = statistics.median(
            [j["hmm"]["seconds_per_iter_median"] /
             j["mixture"]["seconds_per_iter_median"] for j in e])
        s["extra"] = {k: e[-1][k] for k in (
            "rows_max_posterior_below_0_99", "posteriors_above_1e_10",
            "score_seconds", "predict_proba_seconds",
            "start_log_likelihood")}
    for impl in ("scaling", "log"):
        js = row["runs"][impl]
        if not js:
            continue
        its = [v for j in js for v in j["implementations"][impl]
               ["iter_seconds"]]
        s[impl] = {
            "median": statistics.median(its),
            "whole": statistics.median(
                [c / j["iters"] for j in js for c in
                 j["implementations"][impl]["call_seconds"]]),
            "timed": len(its), "fits": len(js),
            "log_likelihood": js[-1]["implementations"][impl]
            ["log_likelihood"],
            "last_estep": js[-1]["implementations"][impl]["last_estep"],
            "thread_pools": js[-1].get("thread_pools")}
    return s


def fmt_ratio(a, b):
    return "%.2f×" % (a / b) if a and b else "—"


def table_cases(rows, dgemm2):
    t = []
    for row in rows:
        c, s = row["case"], row["summary"]
        peers = [s[i]["median"] for i in ("scaling", "log") if i in s]
        fastest = min(peers) if peers else None
        hm = s.get("emgmm hmm")
        ref = hm["log_likelihood"] if hm else None
        first = True
        for key, name in (("emgmm hmm", "emgmm"),
                          ("emgmm mixture", "emgmm, mixture iteration"),
                          ("scaling", NAMES["scaling"]),
                          ("log", NAMES["log"])):
            lab = "%s, %d iterations" % (label(c), c["iters"]) if first \
                else ""
            first = False
            if key not in s:
                impl = {"emgmm hmm": "emgmm", "emgmm mixture": "emgmm"}.get(
                    key, key)
                t.append([lab, name, row["errors"].get(impl, "—")] +
                         [""] * 7)
                continue
            v = s[key]
            gf = 2.0 * c["n_seq"] * c["seq_len"] * c["k"] * c["d"] ** 2 \
                / v["median"] / 1e9
            pct = "%.1f%%" % (100 * gf / dgemm2) if dgemm2 and \
                c["type"] == "full" and c["d"] >= 16 else "—"
            if key == "emgmm mixture":
                ll = "%.12f (mean per row)" % v["log_likelihood"]
                rel = "—"
                vs = fmt_ratio(fastest, v["median"])
                hm_ratio = "(reference)"
            else:
                ll = "%.6f" % v["log_likelihood"]
                rel = "(reference)" if key == "emgmm hmm" else \
                    bench.fmt_rel(bench.rel_diff(v["log_likelihood"], ref))
                vs = fmt_ratio(fastest, v["median"])
                hm_ratio = fmt_ratio(v["median"],
                                     s["emgmm mixture"]["median"]) \
                    if "emgmm mixture" in s else "—"
                if key == "emgmm hmm" and "paired_ratio" in s:
                    hm_ratio += " (paired %.2f×)" % s["paired_ratio"]
            t.append([lab, name,
                      "%d × %d = %d" % (c["iters"], v["fits"], v["timed"]),
                      bench.fmt_s(v["median"]), bench.fmt_s(v["whole"]),
                      "**%s**" % vs if key == "emgmm hmm" else vs,
                      "**%s**" % hm_ratio if key == "emgmm hmm" else
                      hm_ratio, pct, ll, rel])
    return bench.md_table(
        ["case", "implementation", "iterations × fits = timed",
         "s / iteration (median)", "s / iteration (whole calls)",
         "hmmlearn's faster ÷ this", "÷ emgmm mixture iteration",
         "% of dgemm (2NKD², 2 threads)",
         "final log-likelihood (score of the returned model)",
         "rel. diff. to emgmm"], t)


def table_targets(rows):
    t = []
    for row in rows:
        c, s = row["case"], row["summary"]
        hm, mx = s.get("emgmm hmm"), s.get("emgmm mixture")
        peers = [(s[i]["median"], i) for i in ("scaling", "log") if i in s]
        if c["target"] and hm and peers:
            best, which = min(peers)
            sp = best / hm["median"]
            t.append(["%s: ≥ %dx hmmlearn" % (label(c), c["target"]),
                      "%.1fx (hmmlearn %s %s s, emgmm %s s)" % (
                          sp, which, bench.fmt_s(best),
                          bench.fmt_s(hm["median"])),
                      "yes" if sp >= c["target"] else "**no**"])
        if hm and mx:
            q = hm["median"] / mx["median"]
            t.append(["%s: HMM iteration ≤ %.1fx mixture iteration"
                      % (label(c), HMM_RATIO_TARGET),
                      "%.2fx (%s s against %s s; paired by round %.2fx)" % (
                          q, bench.fmt_s(hm["median"]),
                          bench.fmt_s(mx["median"]), s["paired_ratio"]),
                      "yes" if q <= HMM_RATIO_TARGET else "**no**"])
    return bench.md_table(["target", "measured", "met?"], t)


def table_extra(rows):
    t = []
    for row in rows:
        c, s = row["case"], row["summary"]
        x = s.get("extra")
        if not x:
            continue
        t.append([label(c), "%.1f%%" % (100 * x["rows_max_posterior_below_0_99"]),
                  "%.3f%%" % (100 * x["posteriors_above_1e_10"]),
                  bench.fmt_s(x["score_seconds"]),
                  bench.fmt_s(x["predict_proba_seconds"])])
    return bench.md_table(
        ["case", "rows whose largest posterior < 0.99 (start model)",
         "posteriors > 1e-10", "emgmm_hmm_score (s)",
         "emgmm_hmm_predict_proba (s)"], t)


def render(raw):
    plan, meta, info = raw["plan"], raw["meta"], raw["machine"]
    dgemm = raw.get("dgemm", {})
    dg2 = dgemm.get(2) or dgemm.get("2")
    dg1 = dgemm.get(1) or dgemm.get("1")
    started = datetime.datetime.fromisoformat(meta["started"])
    pools = None
    for row in raw["cases"]:
        for i in ("scaling", "log"):
            if row["summary"].get(i, {}).get("thread_pools"):
                pools = row["summary"][i]["thread_pools"]
    md = ["# emgmm's HMM against hmmlearn%s — %s" % (
        " (quick smoke test: tiny sizes, not for comparison)"
        if raw.get("quick") else "", started.strftime("%Y-%m-%d %H:%M UTC")),
        ""]
    md.append("- Command: `%s` (in the repository root); took %.0f s "
              "(%.1f min)." % (meta["command"], meta["elapsed_s"],
                                meta["elapsed_s"] / 60))
    md.append("- Machine: %s, %s cores, %s; %s. Load average %s at the "
              "start, %s at the end." % (
                  info["cpu"], info["cores"], info["memory"], info["os"],
                  "/".join(meta["load_start"]), "/".join(meta["load_end"])))
    if dg2:
        md.append("- BLAS: OpenBLAS %s. cblas_dgemm 2000 × 2000, best of 3: "
                  "**%.1f GFLOP/s on 1 thread, %.1f GFLOP/s on 2 threads** "
                  "(measured at the start of this run)." % (
                      info["openblas"], dg1 or 0, dg2))
    md.append("- emgmm %s, commit %s, built by %s (%s, %s)." % (
        meta.get("emgmm_version", "?"), info["commit"], info["cc"],
        info["buildtype"], info["openmp"]))
    md.append("- hmmlearn 0.3.3 built from its release source in "
              "`../shared/peers/` (`build-hmmlearn.sh`; g++ -O2); NumPy %s, "
              "SciPy %s, scikit-learn %s (Debian)." % (
                  info["debs"].get("python3-numpy") or "?",
                  meta.get("scipy", "?"),
                  info["debs"].get("python3-sklearn") or "?"))
    md.append("- Threads: OPENBLAS_NUM_THREADS=2 and OMP_NUM_THREADS=2 for "
              "every process, emgmm n_threads = 2; OPENBLAS_CORETYPE %s. "
              "threadpoolctl in hmmlearn's processes: %s." % (
                  "= %s" % meta["coretype"] if meta.get("coretype")
                  else "not set",
                  ", ".join("%s %s threads (%s)" % (
                      p["api"], p["num_threads"], p.get("architecture") or
                      "-") for p in pools) if pools else "not available"))
    md.append("- Data: `bench/make_hmm_data.py N_SEQ SEQ_LEN D K 0` (a "
              "sticky chain, overlapping Gaussian emissions; the start is "
              "the truth perturbed); raw results: `%s/results-hmm.json`."
              % raw["out_dir"])
    md.append("")
    md.append("## Targets")
    md.append("")
    md.append(table_targets(raw["cases"]))
    md.append("")
    md.append("## From the same start, the same iterations")
    md.append("")
    md.append(table_cases(raw["cases"], dg2))
    md.append("")
    md.append("## How soft the posteriors are, and emgmm's inference calls")
    md.append("")
    md.append(table_extra(raw["cases"]))
    md.append("")
    md.append(NOTES.format(budget=plan["budget_s"],
                           erep=plan["emgmm_repeats"], big=max(
        c.get("budget_s", plan["budget_s"]) for c in plan["cases"])))
    return "\n".join(md)


NOTES = """\
How it is measured:

- **Same start, same work.** Every implementation starts from the case's
  start.json (init_params="" for hmmlearn, init_model for emgmm) and runs
  exactly the iterations of the case (tol = -inf / tol = -1), with
  hmmlearn's default priors (emgmm's defaults are the same). The final
  log-likelihood is the total over the sequences of the returned model
  (hmmlearn's `score(X, lengths)`, computed untimed after the fit; emgmm's
  `info.log_likelihood`). The mixture row is emgmm_fit from a mixture of
  the HMM's emissions (equal weights): its log-likelihood is a mean per
  row and is not comparable.
- **s / iteration (median)**: every iteration timed on its own, median
  over all of them: emgmm by its progress callback (E-step and M-step),
  hmmlearn from the start of `_do_estep` to the end of `_do_mstep` (its
  loop body). **s / iteration (whole calls)**: emgmm (fit of the case's
  iterations − fit of 0 iterations) / iterations, both calls making the
  same set-up and one final scoring; hmmlearn fit() / iterations (its
  fit makes no final scoring, and its _init does nothing here). The
  first iteration of the first call in a process is slower (its buffers
  are touched for the first time); the median over the calls hides that
  as the per-iteration median does.
- **Alternation.** In round r the three processes (emgmm, hmmlearn
  scaling, hmmlearn log) run in an order rotated by r. The emgmm process
  makes {erep} repeats, each an HMM fit and a mixture fit (the order
  alternating between repeats), in every round: its "fits" are rounds ×
  repeats. An hmmlearn implementation stops repeating once its fits add
  up to {budget:g} s ({big:g} s at D=64, where one fit takes 40-100 s);
  "iterations × fits" says how many it made.
- **÷ emgmm mixture iteration**: the HMM's median over the mixture's;
  "paired" is the median over the rounds of the same ratio within one
  bench_hmm process (the two fits alternate there, back to back).
- **% of dgemm** counts 2·N·K·D² flops per iteration (bench.py's
  convention) against the 2-thread dgemm rate of this run; shown for full
  covariances at D ≥ 16 only (at D=4 and for diagonal covariances the
  iteration is not matrix-multiply work).
- Times are wall-clock on a shared 2-core virtual machine.
"""


def main():
    global T0, DATA_DIR, EXE, HMMLEARN, HMMLEARN_WHY
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build-dir")
    ap.add_argument("--data-dir")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--hmmlearn", default="",
                    help="folder holding the hmmlearn package "
                         "(build-hmmlearn.sh's output)")
    ap.add_argument("--command", default="bench/hmm_bench.py")
    ap.add_argument("--render", metavar="RESULTS.json",
                    help="only rewrite the Markdown from an earlier run")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if args.render:
        with open(args.render) as f:
            raw = json.load(f)
        for row in raw["cases"]:
            row["summary"] = summarise(row)
    else:
        if not args.build_dir or not args.data_dir:
            ap.error("--build-dir and --data-dir are required")
        T0 = time.monotonic()
        plan = QUICK if args.quick else FULL
        build_dir = os.path.abspath(args.build_dir)
        DATA_DIR = os.path.abspath(args.data_dir)
        os.makedirs(DATA_DIR, exist_ok=True)
        bench.WORK = os.path.join(build_dir, "bench-work-hmm")
        os.makedirs(bench.WORK, exist_ok=True)
        EXE = os.path.join(build_dir, "bench", "bench_hmm")
        if not os.path.exists(EXE):
            print("hmm_bench.py: %s not built" % EXE, file=sys.stderr)
            return 1
        HMMLEARN, HMMLEARN_WHY = None, "no --hmmlearn folder"
        if args.hmmlearn:
            r = subprocess.run([sys.executable, "-c", "import hmmlearn.hmm"],
                               env=env_for_check(args.hmmlearn),
                               capture_output=True, text=True)
            if r.returncode == 0:
                HMMLEARN = os.path.abspath(args.hmmlearn)
            else:
                HMMLEARN_WHY = (r.stderr.strip().splitlines() or
                                ["import failed"])[-1][:120]
        if not HMMLEARN:
            log("hmmlearn missing: %s" % HMMLEARN_WHY)
        started = datetime.datetime.now(datetime.timezone.utc)
        load_start = open("/proc/loadavg").read().split()[:3]
        info = bench.machine_info(build_dir, {})
        dgemm = bench.part_dgemm(build_dir)
        rows = part_cases(plan)
        for row in rows:
            row["summary"] = summarise(row)
        scipy_v = bench.sh([sys.executable, "-c",
                            "import scipy; print(scipy.__version__)"])
        emgmm_v = next((row["runs"]["emgmm"][0]["version"] for row in rows
                        if row["runs"]["emgmm"]), "?")
        raw = {"plan": plan, "quick": args.quick, "dgemm": dgemm,
               "machine": info, "cases": rows,
               "out_dir": os.path.relpath(os.path.abspath(args.out_dir),
                                          ROOT),
               "meta": {"started": started.isoformat(),
                        "elapsed_s": time.monotonic() - T0,
                        "load_start": load_start,
                        "load_end": open("/proc/loadavg").read().split()[:3],
                        "command": args.command,
                        "coretype": os.environ.get("OPENBLAS_CORETYPE"),
                        "scipy": scipy_v, "emgmm_version": emgmm_v}}
        with open(os.path.join(args.out_dir, "results-hmm.json"), "w") as f:
            json.dump(raw, f, indent=1)
    text = render(raw)
    print(text)
    with open(os.path.join(args.out_dir, "results-hmm.md"), "w") as f:
        f.write(text)
    print("hmm_bench.py: wrote %s" % os.path.join(args.out_dir,
                                                  "results-hmm.md"),
          file=sys.stderr)
    return 0


def env_for_check(folder):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(folder) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


T0 = time.monotonic()
DATA_DIR = EXE = HMMLEARN = None
HMMLEARN_WHY = ""

if __name__ == "__main__":
    sys.exit(main())
