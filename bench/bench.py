#!/usr/bin/env python3
"""The benchmark driver behind bench/run.sh (see there for the options).

For every case it generates the data and one starting model with
bench/make_data.py, then runs emgmm and each peer (scikit-learn, Armadillo,
OpenCV, R mclust) from exactly that model for the same number of EM
iterations, each in its own process with OPENBLAS_NUM_THREADS=2 and
OMP_NUM_THREADS=2, and tabulates seconds per iteration, GFLOP/s (2*N*K*D^2
flops per iteration), the share of the dgemm rate measured in the same run,
peak RSS (ru_maxrss of the peer process, from wait4) and the final mean
log-likelihood. Then emgmm-only tables: scaling in N, K and D (with an SVG
plot), k-means initialisation, predict and score_samples against an
E-step, peak RSS at N=1,000,000, and 1 against 2 threads.

Every peer driver prints one JSON line; the raw results are kept as JSON
next to the Markdown.
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PEERS = ["emgmm", "scikit-learn", "armadillo", "opencv", "mclust"]

# ---------------------------------------------------------------------------
# What runs. iters: EM iterations of every peer in that case (the same for
# all, so that the log-likelihoods can be compared). repeats: at most this
# many fits per peer; budget_s: a peer stops repeating once its timed
# iterations add up to this (the slow peers at the big cases do one fit of
# `iters` iterations; every iteration is timed, so the median is still over
# >= 3 iterations).
FULL = {
    "cases": [
        {"n": 1000, "d": 2, "k": 3, "iters": 20},
        {"n": 100000, "d": 16, "k": 8, "iters": 5},
        {"n": 100000, "d": 64, "k": 16, "iters": 3},
        {"n": 20000, "d": 256, "k": 8, "iters": 3},
    ],
    "repeats": 3, "budget_s": 10.0, "timeout_s": 420,
    "align": [{"n": 1000, "d": 2, "k": 3, "iters": 20},
              {"n": 10000, "d": 16, "k": 8, "iters": 10}],
    "scaling": {
        "iters": 3, "repeats": 3, "budget_s": 4.0,
        "N": {"values": [12500, 25000, 50000, 100000, 200000],
              "d": 32, "k": 8},
        "K": {"values": [2, 4, 8, 16, 32], "n": 50000, "d": 32},
        "D": {"values": [8, 16, 32, 64, 128], "n": 50000, "k": 8},
    },
    "ops_repeats": 3,
    "rss": {"n": 1000000, "d": 64, "k": 16, "iters": 2},
    "threads": {"iters": 3, "repeats": 3, "budget_s": 8.0},
}
# Tiny sizes of every part, for a smoke test (about a minute).
QUICK = {
    "cases": [
        {"n": 1000, "d": 2, "k": 3, "iters": 5},
        {"n": 5000, "d": 16, "k": 8, "iters": 3},
        {"n": 5000, "d": 64, "k": 16, "iters": 2},
        {"n": 3000, "d": 128, "k": 8, "iters": 2},
    ],
    "repeats": 2, "budget_s": 1.0, "timeout_s": 90,
    "align": [{"n": 1000, "d": 2, "k": 3, "iters": 10}],
    "scaling": {
        "iters": 2, "repeats": 2, "budget_s": 0.5,
        "N": {"values": [2000, 4000, 8000], "d": 16, "k": 4},
        "K": {"values": [2, 4, 8], "n": 4000, "d": 16},
        "D": {"values": [4, 8, 16, 32], "n": 4000, "k": 4},
    },
    "ops_repeats": 2,
    "rss": {"n": 50000, "d": 32, "k": 8, "iters": 2},
    "threads": {"iters": 2, "repeats": 2, "budget_s": 1.0},
}
SEED = 0


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr,
          flush=True)


def case_label(c):
    return "N={:,} D={} K={}".format(c["n"], c["d"], c["k"])


def flops_per_iter(n, d, k):
    return 2.0 * n * k * d * d


def sh(cmd, default=""):
    try:
        return subprocess.run(cmd, shell=isinstance(cmd, str), text=True,
                              capture_output=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return default


def deb_version(pkg):
    return sh(["dpkg-query", "-W", "-f=${Version}", pkg]) or None


# ---------------------------------------------------------------------------
# Running one measured process.

def run_cmd(cmd, env, timeout):
    """Runs cmd; returns rc, stdout, stderr, wall seconds and the peak RSS
    of the process (KiB). The RSS comes from /usr/bin/time -f %M when it
    is installed: ru_maxrss counts the memory of the process that forked
    before exec, and this Python (with NumPy loaded) is about 40 MB, while
    time is 2 MB. Without it, wait4's ru_maxrss is used (rss_via says)."""
    out_path = os.path.join(WORK, "stdout.txt")
    err_path = os.path.join(WORK, "stderr.txt")
    rss_path = os.path.join(WORK, "maxrss.txt")
    timer = shutil.which("time", path="/usr/bin:/bin")
    if timer:
        if os.path.exists(rss_path):
            os.remove(rss_path)
        cmd = [timer, "-f", "%M", "-o", rss_path] + list(cmd)
    t0 = time.monotonic()
    with open(out_path, "w") as fo, open(err_path, "w") as fe:
        try:
            p = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env,
                                 cwd=ROOT, start_new_session=True)
        except OSError as e:
            return {"rc": 127, "stdout": "", "stderr": str(e), "wall": 0.0,
                    "maxrss_kb": None, "timed_out": False}
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.monotonic() - t0 > timeout:
                os.killpg(p.pid, 9)  # time and the peer under it
                pid, status, ru = os.wait4(p.pid, 0)
                timed_out = True
                break
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        stderr = f.read()
    maxrss, via = ru.ru_maxrss, "wait4"
    if timer:
        try:
            with open(rss_path) as f:
                maxrss, via = int(f.read().strip().splitlines()[-1]), "time"
        except (OSError, ValueError, IndexError):
            pass
    return {"rc": p.returncode, "stdout": stdout, "stderr": stderr,
            "wall": wall, "maxrss_kb": maxrss, "rss_via": via,
            "timed_out": timed_out}


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def thread_env(threads, budget=None):
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    env.pop("BENCH_BUDGET_S", None)
    if budget:
        env["BENCH_BUDGET_S"] = "%g" % budget
    return env


def measure(cmd, env, timeout):
    """Runs a driver; returns its JSON (with rss and wall added) or an
    error dict {"error": ...}."""
    r = run_cmd(cmd, env, timeout)
    if r["timed_out"]:
        return {"error": "timeout after %.0f s" % timeout, "wall": r["wall"]}
    j = last_json(r["stdout"])
    if r["rc"] != 0 or j is None:
        msg = (r["stderr"].strip().splitlines() or ["exit %d" % r["rc"]])[-1]
        return {"error": "failed: %s" % msg[:160], "wall": r["wall"]}
    j["process_maxrss_kb"] = r["maxrss_kb"]
    j["rss_via"] = r["rss_via"]
    j["wall"] = r["wall"]
    return j


# ---------------------------------------------------------------------------
# Data.

def make_data_tag():
    with open(os.path.join(BENCH, "make_data.py"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:10]


def ensure_data(n, d, k, raw=False):
    """The case's folder: X.npy and init.json from make_data.py (cached,
    keyed by the arguments and make_data.py's hash) and, with raw=True,
    X.f64 and init.f64 (raw row-major float64) for the C++ and R peers."""
    folder = os.path.join(DATA_DIR, "n%d_d%d_k%d_s%d_%s"
                          % (n, d, k, SEED, DATA_TAG))
    x_npy = os.path.join(folder, "X.npy")
    init_json = os.path.join(folder, "init.json")
    if not (os.path.exists(x_npy) and os.path.exists(init_json)):
        t0 = time.monotonic()
        r = subprocess.run([sys.executable,
                            os.path.join(BENCH, "make_data.py"), str(n),
                            str(d), str(k), str(SEED), folder],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("make_data.py failed: " + r.stderr.strip())
        log("generated %s in %.1f s" % (case_label({"n": n, "d": d, "k": k}),
                                         time.monotonic() - t0))
    x_raw = os.path.join(folder, "X.f64")
    init_raw = os.path.join(folder, "init.f64")
    if raw and not (os.path.exists(x_raw) and os.path.exists(init_raw)):
        x = np.load(x_npy, mmap_mode="r")
        np.ascontiguousarray(x, dtype="<f8").tofile(x_raw + ".tmp")
        os.replace(x_raw + ".tmp", x_raw)
        with open(init_json, encoding="utf-8") as f:
            m = json.load(f)
        v = np.concatenate([np.ravel(m["weights"]), np.ravel(m["means"]),
                            np.ravel(m["covariances"])]).astype("<f8")
        v.tofile(init_raw + ".tmp")
        os.replace(init_raw + ".tmp", init_raw)
    return {"x_npy": x_npy, "init_json": init_json, "x_raw": x_raw,
            "init_raw": init_raw}


# ---------------------------------------------------------------------------
# Peers.

def compile_peer(name, src, out, cmd_tail):
    """Builds a C++ peer driver unless the binary is newer than its source.
    Returns (path, None) or (None, reason)."""
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out, None
    if not shutil.which("g++"):
        return None, "g++ not installed"
    cmd = ["g++", "-O2", "-std=c++17", "-Wall", "-Wextra", src, "-o", out] \
        + cmd_tail
    log("compiling the %s driver: %s" % (name, " ".join(cmd)))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        err = (r.stderr.strip().splitlines() or ["?"])[0]
        return None, "driver did not compile: " + err[:120]
    return out, None


def pkg_config(*args):
    r = subprocess.run(["pkg-config"] + list(args), capture_output=True,
                       text=True)
    return r.stdout.split() if r.returncode == 0 else None


def find_peers(build_dir):
    """name -> {"ok": bool, "why": reason if not, "cmd": builder}."""
    peers = {}
    exe = os.path.join(build_dir, "bench", "bench_emgmm")
    peers["emgmm"] = {"ok": os.path.exists(exe), "exe": exe,
                      "why": "bench_emgmm not built"}
    r = subprocess.run([sys.executable, "-c", "import sklearn"],
                       capture_output=True)
    peers["scikit-learn"] = {"ok": r.returncode == 0,
                             "why": "python3-sklearn not installed"}
    out_dir = os.path.join(build_dir, "bench-peers")
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists("/usr/include/armadillo"):
        blas = pkg_config("--cflags", "--libs", "openblas") or ["-lopenblas"]
        path, why = compile_peer(
            "Armadillo", os.path.join(BENCH, "peers", "arma_peer.cpp"),
            os.path.join(out_dir, "arma_peer"),
            ["-fopenmp", "-DARMA_DONT_USE_WRAPPER"] + blas)
    else:
        path, why = None, "libarmadillo-dev not installed"
    peers["armadillo"] = {"ok": path is not None, "exe": path, "why": why}
    cv = pkg_config("--cflags", "opencv4")
    if cv is not None:
        path, why = compile_peer(
            "OpenCV", os.path.join(BENCH, "peers", "opencv_peer.cpp"),
            os.path.join(out_dir, "opencv_peer"),
            cv + ["-lopencv_ml", "-lopencv_core"])
    else:
        path, why = None, "libopencv-dev not installed"
    peers["opencv"] = {"ok": path is not None, "exe": path, "why": why}
    if shutil.which("Rscript"):
        r = subprocess.run(["Rscript", "-e", "suppressPackageStartupMessages("
                            "library(mclust))"], capture_output=True)
        ok, why = r.returncode == 0, "r-cran-mclust not installed"
    else:
        ok, why = False, "r-base-core (Rscript) not installed"
    peers["mclust"] = {"ok": ok, "why": why}
    return peers


def peer_cmd(peer, files, c, iters, repeats, reg=1e-6, whole=False):
    n, d, k = (str(c[key]) for key in ("n", "d", "k"))
    if peer == "emgmm":
        return [PEER["emgmm"]["exe"], "fit", files["x_npy"],
                files["init_json"], str(iters), str(repeats), "2", repr(reg)]
    if peer == "scikit-learn":
        return [sys.executable, os.path.join(BENCH, "sklearn_peer.py"),
                files["x_npy"], files["init_json"], str(iters), str(repeats),
                repr(reg)]
    if peer == "armadillo":
        return [PEER["armadillo"]["exe"], files["x_raw"], files["init_raw"],
                n, d, k, str(iters), str(repeats)]
    if peer == "opencv":
        return [PEER["opencv"]["exe"], files["x_raw"], files["init_raw"],
                n, d, k, str(iters), str(repeats)] + (["whole"] if whole
                                                      else [])
    if peer == "mclust":
        return ["Rscript", os.path.join(BENCH, "peers", "mclust_peer.R"),
                files["x_raw"], files["init_raw"], n, d, k, str(iters),
                str(repeats)]
    raise ValueError(peer)


# ---------------------------------------------------------------------------
# Formatting.

def fmt_s(v):
    if v is None:
        return "—"
    if v >= 100:
        return "%.0f" % v
    if v >= 1:
        return "%.2f" % v
    if v >= 0.001:
        return "%.4f" % v
    return "%.2e" % v


def fmt_mb(kb):
    return "—" if kb is None else "{:,.0f}".format(kb * 1024 / 1e6)


def fmt_rel(v):
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return "%.1e" % v


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def rel_diff(a, b):
    if a is None or b is None:
        return None
    return abs(a - b) / abs(b) if b else abs(a - b)


# ---------------------------------------------------------------------------
# The parts.

def part_dgemm(build_dir):
    exe = os.path.join(build_dir, "bench", "dgemm_rate")
    rates = {}
    for t in (1, 2):
        j = measure([exe, "2000", "3"], thread_env(t), 300)
        rates[t] = j.get("gflops")
        log("dgemm 2000x2000, %d thread(s): %s GFLOP/s" % (t, rates[t]))
    return rates


def part_peers(plan, dgemm2):
    results = []
    for ci, c in enumerate(plan["cases"]):
        files = ensure_data(c["n"], c["d"], c["k"], raw=True)
        row = {"case": c, "peers": {}}
        for peer in PEERS:
            if not PEER[peer]["ok"]:
                row["peers"][peer] = {"error": "missing (%s)"
                                      % PEER[peer]["why"]}
                continue
            j = measure(peer_cmd(peer, files, c, c["iters"],
                                 plan["repeats"]),
                        thread_env(2, plan["budget_s"]), plan["timeout_s"])
            row["peers"][peer] = j
            if "error" in j:
                log("case %d %s: %s: %s" % (ci + 1, case_label(c), peer,
                                            j["error"]))
            else:
                log("case %d %s: %s: %.4g s/iter (%d x %d), score %.12g"
                    % (ci + 1, case_label(c), peer,
                       j["seconds_per_iter_median"], j["iters"],
                       j["repeats"], j["score"]))
        results.append(row)
    return results


def table_peers(results, dgemm2):
    rows = []
    for r in results:
        c = r["case"]
        ref = r["peers"].get("emgmm", {}).get("score")
        fl = flops_per_iter(c["n"], c["d"], c["k"])
        first = True
        for peer in PEERS:
            j = r["peers"][peer]
            label = "%s, %d iterations" % (case_label(c), c["iters"]) \
                if first else ""
            first = False
            if "error" in j:
                rows.append([label, peer, j["error"], "", "", "", "", "", ""])
                continue
            s = j["seconds_per_iter_median"]
            gf = fl / s / 1e9 if s > 0 else None
            pct = 100.0 * gf / dgemm2 if gf and dgemm2 else None
            timed = len(j.get("iter_seconds", [])) or j["iters"] * \
                j["repeats"]
            rows.append([
                label, peer,
                "%d × %d = %d" % (j["iters"], j["repeats"], timed),
                fmt_s(s), "%.2f" % gf if gf else "—",
                "%.1f%%" % pct if pct is not None else "—",
                fmt_mb(j.get("process_maxrss_kb")) +
                ("*" if j.get("rss_via") == "wait4" else ""),
                "%.12f" % j["score"],
                "(reference)" if peer == "emgmm" else
                fmt_rel(rel_diff(j["score"], ref))])
    return md_table(["case", "peer", "iterations × fits = timed",
                     "s / iteration (median)", "GFLOP/s (2NKD²)",
                     "% of dgemm (2 threads)", "peak RSS (MB)",
                     "final mean log-likelihood", "rel. diff. to emgmm"],
                    rows)


def part_align(plan):
    out = []
    for c in plan["align"]:
        files = ensure_data(c["n"], c["d"], c["k"], raw=True)
        row = {"case": c, "peers": {}}
        runs = [(p, p, False) for p in PEERS] + \
            [("opencv (one trainE, COUNT=iters+1)", "opencv", True)]
        for name, peer, whole in runs:
            if not PEER[peer]["ok"]:
                row["peers"][name] = {"error": "missing"}
                continue
            row["peers"][name] = measure(
                peer_cmd(peer, files, c, c["iters"], 1, reg=0.0,
                         whole=whole), thread_env(2), plan["timeout_s"])
        ref = row["peers"].get("emgmm", {}).get("score")
        log("alignment %s: %s" % (case_label(c), ", ".join(
            "%s %s" % (k, fmt_rel(rel_diff(v.get("score"), ref)))
            for k, v in row["peers"].items())))
        out.append(row)
    return out


def table_align(rows):
    t = []
    for r in rows:
        c = r["case"]
        ref = r["peers"].get("emgmm", {}).get("score")
        first = True
        for name, j in r["peers"].items():
            label = "%s, %d iterations" % (case_label(c), c["iters"]) \
                if first else ""
            first = False
            if "error" in j:
                t.append([label, name, j["error"], ""])
            else:
                t.append([label, name, "%.15f" % j["score"],
                          "(reference)" if name == "emgmm"
                          else fmt_rel(rel_diff(j["score"], ref))])
    return md_table(["case", "peer", "final mean log-likelihood",
                     "rel. diff. to emgmm"], t)


def emgmm_fit(files, iters, repeats, threads, budget, timeout, reg=1e-6):
    cmd = [PEER["emgmm"]["exe"], "fit", files["x_npy"], files["init_json"],
           str(iters), str(repeats), str(threads), repr(reg)]
    return measure(cmd, thread_env(threads, budget), timeout)


def part_scaling(plan):
    sp = plan["scaling"]
    out = {}
    for axis in ("N", "K", "D"):
        spec = sp[axis]
        pts = []
        for v in spec["values"]:
            c = {"n": spec.get("n"), "d": spec.get("d"), "k": spec.get("k")}
            c[axis.lower()] = v
            files = ensure_data(c["n"], c["d"], c["k"])
            j = emgmm_fit(files, sp["iters"], sp["repeats"], 2,
                          sp["budget_s"], plan["timeout_s"])
            pts.append({"case": c, "result": j})
            log("scaling %s: %s" % (case_label(c), j.get(
                "seconds_per_iter_median", j.get("error"))))
        out[axis] = pts
    return out


def slope(xs, ys):
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


EXPECTED = {"N": 1, "K": 1, "D": 2}


def table_scaling(sc):
    rows = []
    for axis in ("N", "K", "D"):
        xs, ys = [], []
        for p in sc[axis]:
            c, j = p["case"], p["result"]
            s = j.get("seconds_per_iter_median")
            fl = flops_per_iter(c["n"], c["d"], c["k"])
            xs.append(c[axis.lower()])
            ys.append(s)
            rows.append([axis, "{:,}".format(c["n"]), c["d"], c["k"],
                         fmt_s(s) if s else j.get("error"),
                         "%.2f" % (fl / s / 1e9) if s else "—",
                         "%.3f" % (s / fl * 1e9) if s else "—"])
        sl = slope(xs, ys)
        top = slope(xs[-3:], ys[-3:])
        rows.append(["**%s: fitted log-log slope**" % axis, "", "", "",
                     "**%s** (all points); **%s** (largest 3)" % (
                         "%.2f" % sl if sl is not None else "—",
                         "%.2f" % top if top is not None else "—"),
                     "expected %d" % EXPECTED[axis], ""])
    return md_table(["sweep", "N", "D", "K", "s / iteration",
                     "GFLOP/s", "ns per N·K·D²"], rows)


def write_svg(sc, path, subtitle):
    sweeps = []
    for axis in ("N", "K", "D"):
        pts = sc[axis]
        fixed = {"N": "D=%d, K=%d", "K": "N={:,}, D=%d",
                 "D": "N={:,}, K=%d"}[axis]
        c0 = pts[0]["case"]
        if axis == "N":
            lab = fixed % (c0["d"], c0["k"])
        elif axis == "K":
            lab = fixed.format(c0["n"]) % c0["d"]
        else:
            lab = fixed.format(c0["n"]) % c0["k"]
        sweeps.append({
            "name": axis, "label": "%s (%s)" % (axis, lab),
            "x": [p["case"][axis.lower()] for p in pts],
            "y": [p["result"].get("seconds_per_iter_median") for p in pts],
            "expected_slope": EXPECTED[axis]})
    fd, spec_path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump({"title": "emgmm: seconds per EM iteration (full "
                   "covariances, 2 threads), log-log",
                   "subtitle": subtitle, "sweeps": sweeps}, f)
    r = subprocess.run([sys.executable, os.path.join(BENCH,
                                                     "plot_scaling.py"),
                        spec_path, path], capture_output=True, text=True)
    os.remove(spec_path)
    if r.returncode != 0:
        log("plot_scaling.py failed: " + r.stderr.strip())


def part_ops(plan):
    out = []
    for c in plan["cases"]:
        files = ensure_data(c["n"], c["d"], c["k"])
        cmd = [PEER["emgmm"]["exe"], "ops", files["x_npy"],
               files["init_json"], str(plan["ops_repeats"]), "2"]
        j = measure(cmd, thread_env(2), plan["timeout_s"])
        log("ops %s: %s" % (case_label(c), j.get("error") or
                            "iteration %.4g s, estep %.4g s, kmeans %.4g s"
                            % (j["iteration"], j["estep"],
                               j["init_kmeans"])))
        out.append({"case": c, "result": j})
    return out


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "—"


def table_init(ops):
    rows = []
    for o in ops:
        c, j = o["case"], o["result"]
        if "error" in j:
            rows.append([case_label(c), j["error"]] + [""] * 6)
            continue
        it, km = j["iteration"], j["init_kmeans"]
        rows.append([case_label(c), fmt_s(it), fmt_s(km),
                     fmt_s(max(km - it, 0.0)), ratio(max(km - it, 0.0), it),
                     fmt_s(j["init_kmeanspp"]),
                     ratio(max(j["init_kmeanspp"] - it, 0.0), it),
                     "yes" if (km - it) < 10 * it else "**no**"])
    return md_table(["case", "one EM iteration (s)",
                     "fit, init kmeans, max_iter 0 (s)",
                     "k-means init ≈ that − 1 iteration (s)",
                     "init in iterations", "same, init kmeans++ (s)",
                     "kmeans++ init in iterations", "init < 10 iterations?"],
                    rows)


def table_predict(ops):
    rows = []
    for o in ops:
        c, j = o["case"], o["result"]
        if "error" in j:
            rows.append([case_label(c), j["error"]] + [""] * 8)
            continue
        e = j["estep"]
        rows.append([case_label(c), fmt_s(j["iteration"]), fmt_s(e),
                     ratio(e, j["iteration"]),
                     fmt_s(j["predict"]), ratio(j["predict"], e),
                     fmt_s(j["score_samples"]), ratio(j["score_samples"], e),
                     fmt_s(j["predict_proba"]), ratio(j["predict_proba"], e),
                     "yes" if max(j["predict"], j["score_samples"])
                     <= 1.2 * e else "**no**"])
    return md_table(["case", "one EM iteration (s)",
                     "one E-step: fit from start, max_iter 0 (s)",
                     "E-step / iteration", "predict (s)", "predict / E-step",
                     "score_samples (s)", "score_samples / E-step",
                     "predict_proba (s)", "predict_proba / E-step",
                     "both ≤ 1.2 × E-step?"], rows)


def part_rss(plan):
    c = plan["rss"]
    files = ensure_data(c["n"], c["d"], c["k"])
    j = emgmm_fit(files, c["iters"], 1, 2, None, max(plan["timeout_s"], 300))
    log("rss %s: %s" % (case_label(c), j.get("error") or
                        "%.0f MB peak" % (j["maxrss_kb"] * 1024 / 1e6)))
    return {"case": c, "result": j}


def table_rss(r):
    c, j = r["case"], r["result"]
    n, d, k = c["n"], c["d"], c["k"]
    data_mb = n * d * 8 / 1e6
    resp_mb = n * k * 8 / 1e6
    target = data_mb + resp_mb + 64
    if "error" in j:
        return md_table(["case", "result"], [[case_label(c), j["error"]]])
    peak = j["process_maxrss_kb"] * 1024 / 1e6
    rows = [[case_label(c), "%d" % c["iters"],
             fmt_s(j["seconds_per_iter_median"]),
             fmt_mb(j["maxrss_after_load_kb"]), "%.0f" % peak,
             "%.0f = %.0f data + %.0f resp. + 64" % (target, data_mb,
                                                     resp_mb),
             "%.0f" % (peak - data_mb),
             "yes" if peak <= target else "**no** (+%.0f MB)"
             % (peak - target)]]
    return md_table(["case", "iterations", "s / iteration",
                     "RSS after loading X (MB)", "peak RSS (MB)",
                     "target (MB)", "peak − data (MB)", "within target?"],
                    rows)


def part_threads(plan):
    tp = plan["threads"]
    out = []
    for c in plan["cases"]:
        if c["d"] < 64:
            continue
        files = ensure_data(c["n"], c["d"], c["k"])
        res = {}
        for t in (1, 2):
            res[t] = emgmm_fit(files, tp["iters"], tp["repeats"], t,
                               tp["budget_s"], plan["timeout_s"])
        log("threads %s: 1 -> %s, 2 -> %s" % (
            case_label(c), res[1].get("seconds_per_iter_median"),
            res[2].get("seconds_per_iter_median")))
        out.append({"case": c, "results": res})
    return out


def table_threads(rows, dgemm):
    t = []
    for r in rows:
        a = r["results"][1].get("seconds_per_iter_median")
        b = r["results"][2].get("seconds_per_iter_median")
        sp = a / b if a and b else None
        t.append([case_label(r["case"]), fmt_s(a), fmt_s(b),
                  "%.2f×" % sp if sp else "—",
                  "yes" if sp and sp >= 1.7 else "**no**"])
    if dgemm.get(1) and dgemm.get(2):
        t.append(["dgemm 2000 × 2000 (for reference)",
                  "%.1f GFLOP/s" % dgemm[1], "%.1f GFLOP/s" % dgemm[2],
                  "%.2f×" % (dgemm[2] / dgemm[1]), ""])
    return md_table(["case", "1 thread: s / iteration",
                     "2 threads: s / iteration", "speed-up",
                     "≥ 1.7×?"], t)


# ---------------------------------------------------------------------------

def machine_info(build_dir, dgemm):
    model = ""
    for line in sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    cores = os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = "%.0f GiB" % (kb / 2 ** 20)
    except (OSError, ValueError, IndexError):
        pass
    osname = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--", "src",
                "include", "tools", "meson.build"])
    cc = ""
    try:  # the compiler of the build folder, from its compile commands
        with open(os.path.join(build_dir, "compile_commands.json")) as f:
            entry = json.load(f)[0]
        argv0 = shlex.split(entry["command"])[0]
        cc = sh([argv0, "--version"]).splitlines()[0]
    except (OSError, KeyError, ValueError, IndexError):
        pass
    opts = {}
    try:
        with open(os.path.join(build_dir, "meson-info",
                               "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
    except (OSError, ValueError):
        pass
    openmp = ""
    try:
        with open(os.path.join(build_dir, "emgmm_config.h")) as f:
            openmp = "with OpenMP" if "EMGMM_HAVE_OPENMP 1" in f.read() \
                else "without OpenMP"
    except OSError:
        pass
    return {
        "cpu": model, "cores": cores, "memory": mem, "os": osname,
        "openblas": deb_version("libopenblas0-pthread") or
        " ".join(pkg_config("--modversion", "openblas") or ["?"]),
        "commit": commit + (" (+ uncommitted changes in src/include/tools)"
                            if dirty else ""),
        "cc": cc, "buildtype": opts.get("buildtype", "?"), "openmp": openmp,
        "dgemm": dgemm,
        "debs": {p: deb_version(p) for p in (
            "python3-sklearn", "python3-numpy", "libarmadillo-dev",
            "libopencv-dev", "r-base-core", "r-cran-mclust", "g++")},
    }


def peer_versions(results):
    v = {}
    for r in results:
        for p, j in r["peers"].items():
            if "version" in j and p not in v:
                v[p] = j["version"] + (" (R %s)" % j["r_version"]
                                       if "r_version" in j else "")
    return v


def notes_text(plan):
    c = plan["cases"]
    return """\
How each number is measured:

- **Same start, same work.** bench/make_data.py writes X and one starting
  model (init.json); every peer starts from exactly that model and runs
  exactly the same number of EM iterations (one iteration = one E-step
  and one M-step), then the final mean log-likelihood of its model on X is
  printed. emgmm and scikit-learn use reg_covar = 1e-6; Armadillo (var_floor
  is a floor on diagonal entries, set to 0), OpenCV and mclust have no
  additive regulariser, so their log-likelihoods differ slightly from
  emgmm's (about 1e-9 relative here); the alignment table runs emgmm and
  scikit-learn with reg_covar = 0 to show how closely all five agree when
  they compute the same thing.
- **Seconds per iteration** is the median over every timed iteration (the
  "timed" count), each timed on its own: emgmm through its progress
  callback; scikit-learn from the start of one E-step to the start of the
  next (its fit() also makes one M-step from random responsibilities before
  the given start overwrites them and one last E-step; neither is counted);
  Armadillo as one learn(..., em_iter = 1) call per iteration; OpenCV as
  one trainM() call with COUNT = 1 per iteration (an M-step and an E-step),
  after an untimed trainE() that only turns the start into
  responsibilities (trainE alone with COUNT = iters + 1 makes the same
  iterations: see the alignment table); mclust as one me(itmax = 1) call
  per iteration, after an untimed estep() on the start. Each peer repeats
  its fit up to {rep} times, and stops repeating once its timed iterations
  add up to {bud:g} s: so the slow peers at the big cases make one fit of
  {it3} iterations, and their median is over those {it3} iterations.
- **GFLOP/s** counts 2·N·K·D² flops per iteration for every peer (the
  issue's convention; scikit-learn actually performs about twice that).
  **% of dgemm** divides it by the 2-thread cblas_dgemm 2000 × 2000 rate
  measured at the start of this run.
- **Threads**: every peer process runs with OPENBLAS_NUM_THREADS=2 and
  OMP_NUM_THREADS=2; emgmm gets n_threads = 2. Armadillo is compiled with
  -fopenmp (its EM runs over samples on 2 threads) and links OpenBLAS
  directly; OpenCV's EM is single-threaded (no parallel_for_ in em.cpp);
  mclust's Fortran makes level-1/2 BLAS calls.
- **Peak RSS** is the peak resident memory of the peer's process
  (/usr/bin/time -f %M, i.e. its ru_maxrss), so it includes the
  interpreter (Python, R), the loaded data and all repeats. MB = 10⁶
  bytes. (A * marks a figure from wait4 where /usr/bin/time is missing:
  it then includes the ~40 MB of the Python that forked the process.)
- Times are wall-clock on a shared 2-core virtual machine: other work on
  the second core halves the 2-thread figures (load average noted above).
""".format(rep=plan["repeats"], bud=plan["budget_s"],
           it3=c[2]["iters"])


def run(args):
    """Runs the parts; returns the raw results (everything render needs)."""
    global T0, WORK, DATA_DIR, DATA_TAG, PEER
    T0 = time.monotonic()
    plan = QUICK if args.quick else FULL
    parts = set(args.only.split(",")) if args.only else {
        "dgemm", "peers", "align", "scaling", "ops", "rss", "threads"}
    build_dir = os.path.abspath(args.build_dir)
    DATA_DIR = os.path.abspath(args.data_dir)
    WORK = os.path.join(build_dir, "bench-work")
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(DATA_DIR, exist_ok=True)
    DATA_TAG = make_data_tag()
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = open("/proc/loadavg").read().split()[:3]
    # The commit and build are those of the start: the library measured is
    # the one built just before.
    info = machine_info(build_dir, {})

    PEER = find_peers(build_dir)
    for p in PEERS:
        if not PEER[p]["ok"]:
            log("peer %s missing: %s" % (p, PEER[p]["why"]))
    if not PEER["emgmm"]["ok"]:
        raise RuntimeError(PEER["emgmm"]["why"])

    raw = {"plan": plan, "quick": args.quick}
    dgemm = part_dgemm(build_dir) if "dgemm" in parts else {}
    raw["dgemm"] = dgemm
    dg2 = dgemm.get(2)
    if "peers" in parts:
        raw["peers"] = part_peers(plan, dg2)
    if "align" in parts:
        raw["align"] = part_align(plan)
    if "ops" in parts:
        raw["ops"] = part_ops(plan)
    if "threads" in parts:
        raw["threads"] = part_threads(plan)
    if "scaling" in parts:
        raw["scaling"] = part_scaling(plan)
    if "rss" in parts:
        raw["rss"] = part_rss(plan)
    info["dgemm"] = dgemm
    raw["machine"] = info
    raw["meta"] = {
        "started": started.isoformat(),
        "elapsed_s": time.monotonic() - T0,
        "load_start": load_start,
        "load_end": open("/proc/loadavg").read().split()[:3],
        "command": args.command,
    }
    return raw


def normalise(raw):
    """JSON turns the integer keys (thread counts) into strings."""
    raw["dgemm"] = {int(k): v for k, v in raw.get("dgemm", {}).items()}
    raw["machine"]["dgemm"] = raw["dgemm"]
    for r in raw.get("threads", []):
        r["results"] = {int(k): v for k, v in r["results"].items()}
    return raw


def render(raw, out_dir):
    """The Markdown report (returned) and scaling.svg from raw results."""
    plan, info, meta = raw["plan"], raw["machine"], raw["meta"]
    dgemm = raw["dgemm"]
    dg2 = dgemm.get(2)
    quick = raw.get("quick")
    started = datetime.datetime.fromisoformat(meta["started"])
    elapsed = meta["elapsed_s"]
    load_start, load_end = meta["load_start"], meta["load_end"]
    versions = peer_versions(raw.get("peers", []))
    md = []
    md.append("# emgmm benchmark%s — %s" % (
        " (quick smoke test: tiny sizes, not for comparison)"
        if quick else "", started.strftime("%Y-%m-%d %H:%M UTC")))
    md.append("")
    md.append("- Command: `%s` (in the repository root); took %.0f s "
              "(%.1f min)." % (meta["command"], elapsed, elapsed / 60))
    md.append("- Machine: %s, %s cores, %s; %s. Load average %s at the "
              "start, %s at the end." % (
                  info["cpu"], info["cores"], info["memory"], info["os"],
                  "/".join(load_start), "/".join(load_end)))
    if dgemm:
        md.append("- BLAS: OpenBLAS %s (libopenblas0-pthread). cblas_dgemm "
                  "2000 × 2000, best of 3: **%.1f GFLOP/s on 1 thread, "
                  "%.1f GFLOP/s on 2 threads** (measured in this run)."
                  % (info["openblas"], dgemm.get(1) or 0, dgemm.get(2) or 0))
    md.append("- emgmm %s, commit %s, built by %s (%s, %s)." % (
        versions.get("emgmm", "?"), info["commit"], info["cc"],
        info["buildtype"], info["openmp"]))
    d = info["debs"]
    md.append("- Peers: scikit-learn %s (NumPy %s); Armadillo %s (g++ %s, "
              "-O2 -fopenmp, OpenBLAS); OpenCV %s; mclust %s. Missing peers "
              "are listed as missing." % (
                  versions.get("scikit-learn", d["python3-sklearn"] or
                               "missing"),
                  d["python3-numpy"] or "?",
                  versions.get("armadillo", d["libarmadillo-dev"] or
                               "missing"),
                  d["g++"] or "?",
                  versions.get("opencv", d["libopencv-dev"] or "missing"),
                  versions.get("mclust", d["r-cran-mclust"] or "missing")))
    md.append("- Threads: OPENBLAS_NUM_THREADS=2 and OMP_NUM_THREADS=2 for "
              "every process; emgmm n_threads = 2 (except where a table says "
              "1 thread).")
    md.append("- Data: bench/make_data.py N D K 0 (random rotations, "
              "condition number 100, overlapping components); raw results: "
              "`%s`." % os.path.relpath(
                  os.path.join(out_dir, "results-latest.json"), ROOT))
    md.append("")
    if "peers" in raw:
        md.append("## emgmm and the peers, from the same start")
        md.append("")
        md.append(table_peers(raw["peers"], dg2))
        md.append("")
    if "align" in raw:
        md.append("## Alignment check: reg_covar = 0 for emgmm and "
                  "scikit-learn (the others have none)")
        md.append("")
        md.append(table_align(raw["align"]))
        md.append("")
    if "scaling" in raw:
        md.append("## (a) Scaling of emgmm: time per iteration against N, K "
                  "and D (2 threads)")
        md.append("")
        sp = plan["scaling"]
        md.append("%d iterations × up to %d fits per point; expected slopes "
                  "on log-log axes: 1 in N, 1 in K, 2 in D (at small D the "
                  "O(N·K·D) terms flatten it). Plot: `%s`." % (
                      sp["iters"], sp["repeats"], os.path.relpath(
                          os.path.join(out_dir, "scaling.svg"), ROOT)))
        md.append("")
        md.append(table_scaling(raw["scaling"]))
        md.append("")
        write_svg(raw["scaling"], os.path.join(out_dir, "scaling.svg"),
                  "%s, %s cores; %s" % (info["cpu"], info["cores"],
                                        started.strftime("%Y-%m-%d")))
    if "ops" in raw:
        md.append("## (b) k-means initialisation against one EM iteration "
                  "(target: init < 10 iterations)")
        md.append("")
        md.append("emgmm_fit with n_components = K, the default init "
                  "(kmeans: k-means++ seeding, then Lloyd iterations) and "
                  "max_iter = 0 makes the initialisation, one M-step from its "
                  "labels and the final E-step; one iteration is subtracted "
                  "to estimate the initialisation alone. Median of %d."
                  % plan["ops_repeats"])
        md.append("")
        md.append(table_init(raw["ops"]))
        md.append("")
        md.append("## (c) predict and score_samples against one E-step "
                  "(target: ≤ 1.2 × E-step)")
        md.append("")
        md.append("The E-step is emgmm_fit from the start model with "
                  "max_iter = 0 (it returns that model after one E-step; "
                  "the time includes the call's finiteness check and "
                  "allocations). An E-step is about half an iteration. "
                  "predict, score_samples and predict_proba run on the start "
                  "model over all of X. Median of %d." % plan["ops_repeats"])
        md.append("")
        md.append(table_predict(raw["ops"]))
        md.append("")
    if "rss" in raw:
        md.append("## (d) Peak memory of emgmm")
        md.append("")
        md.append("bench_emgmm fit (loads X.npy, then emgmm_fit for %d "
                  "iterations, 2 threads); ru_maxrss of the process."
                  % plan["rss"]["iters"])
        md.append("")
        md.append(table_rss(raw["rss"]))
        md.append("")
    if "threads" in raw:
        md.append("## (e) 1 against 2 threads, D ≥ 64 (target: 2 threads "
                  "≥ 1.7 × one thread)")
        md.append("")
        md.append("emgmm n_threads = 1 with OPENBLAS_NUM_THREADS = "
                  "OMP_NUM_THREADS = 1, then n_threads = 2 with both = 2, "
                  "back to back; %d iterations × up to %d fits."
                  % (plan["threads"]["iters"], plan["threads"]["repeats"]))
        md.append("")
        md.append(table_threads(raw["threads"], dgemm))
        md.append("")
    md.append("## Notes")
    md.append("")
    md.append(notes_text(plan))
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build-dir")
    ap.add_argument("--data-dir")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--command", default="bench/bench.py")
    ap.add_argument("--only", default="",
                    help="comma-separated parts: dgemm,peers,align,scaling,"
                         "ops,rss,threads (default all)")
    ap.add_argument("--render", metavar="RESULTS.json",
                    help="only rewrite the Markdown and the SVG from the raw "
                         "results of an earlier run")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if args.render:
        with open(args.render) as f:
            raw = normalise(json.load(f))
    else:
        if not args.build_dir or not args.data_dir:
            ap.error("--build-dir and --data-dir are required")
        try:
            raw = run(args)
        except RuntimeError as e:
            print("bench.py: %s" % e, file=sys.stderr)
            return 1
        with open(os.path.join(args.out_dir, "results-latest.json"),
                  "w") as f:
            json.dump(raw, f, indent=1)
    text = render(raw, args.out_dir)
    print(text)
    with open(os.path.join(args.out_dir, "results-latest.md"), "w") as f:
        f.write(text)
    log("wrote %s" % os.path.join(args.out_dir, "results-latest.md"))
    return 0


T0 = time.monotonic()
WORK = DATA_DIR = DATA_TAG = None
PEER = {}

if __name__ == "__main__":
    sys.exit(main())
