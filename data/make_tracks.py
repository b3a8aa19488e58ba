#!/usr/bin/env python3
"""Writes data/tracks.csv, the hidden Markov model demo (run from anywhere).

The story: a red fox wore a GPS collar for six nights. From dusk to dawn
the collar took a fix every 2 minutes, some 300 to 500 fixes a night. The
log holds positions only; what the fox was doing is not recorded. It did
one of three things, and kept doing it for a while before switching:

  0 resting     lying up at its den or at a day bed: the true position does
                not change, and consecutive fixes differ only by the GPS
                error (about 5 m in each direction), so steps are a few
                metres long and point anywhere;
  1 foraging    slow, tortuous searching for voles and earthworms: short
                steps (about 80 m per 2 minutes) and large turning angles,
                often doubling back;
  2 travelling  trotting from one patch to another: long steps (about
                350 m per 2 minutes, some 10 km/h) on a nearly straight line.

Every night begins with the fox at its den (resting). From one step to the
next the behaviour is a Markov chain with sticky transitions

                 to resting  foraging  travelling
    resting         0.97       0.02       0.01
    foraging        0.02       0.95       0.03
    travelling      0.02       0.08       0.90

(bouts last about 66, 40 and 20 minutes on average). True step lengths are
gamma distributed (foraging: shape 4, mean 80 m; travelling: shape 20,
mean 350 m) and turning angles von Mises (foraging: centred on 180 degrees
with concentration 0.7; travelling: centred on 0 with concentration 10).
The fixes are the true positions plus independent GPS error (normal,
5 m standard deviation per coordinate).

Each row of the CSV is one step between consecutive fixes, described by
two features computed from the fixes, as an analyst would:

  log_step_m    natural log of the step length in metres (2.3 = 10 m,
                4.6 = 100 m, 5.9 = 350 m)
  turn_cos      cosine of the turning angle between this step and the
                previous one (1 = straight on, -1 = back the way it came)

A night of n+2 fixes gives n rows (the first step of a night has no
previous step to turn from). The nights follow each other in the file, and
data/tracks-lengths.txt gives the number of rows of each night, one per
line, in order. A three-state Gaussian hidden Markov model with full
covariances, fitted to the file with those lengths, finds the three
behaviours: its Viterbi states agree with the true ones, which are in
data/tracks-states.txt (one 0-based behaviour per row, coded as above) for
checking, on about 99 % of the steps, against about 95 % for a
three-component mixture that ignores the order of the steps. Neither
feature is Gaussian within a behaviour (the cosine of a widely spread
angle piles up near -1 and 1), so a poor start can end in a local maximum
that splits the short steps by turning angle instead of by length: start
from a clustering of the rows rather than from arbitrary parameters.

numpy's default_rng with a fixed seed makes the files reproducible:
    /usr/bin/python3 data/make_tracks.py
        (writes tracks.csv, tracks-lengths.txt and tracks-states.txt
     beside this script)
"""
import os

import numpy as np

SEED = 1758
N_NIGHTS = 6
MIN_ROWS, MAX_ROWS = 300, 500

RESTING, FORAGING, TRAVELLING = 0, 1, 2
TRANSMAT = np.array([
    [0.97, 0.02, 0.01],
    [0.02, 0.95, 0.03],
    [0.02, 0.08, 0.90],
])
# gamma (shape, mean in metres) of the true step length; resting: no move
STEP_GAMMA = {FORAGING: (4.0, 80.0), TRAVELLING: (20.0, 350.0)}
# von Mises (centre, concentration) of the turning angle
TURN_VONMISES = {FORAGING: (np.pi, 0.7), TRAVELLING: (0.0, 10.0)}
GPS_SD_M = 5.0


def behaviours(rng, n):
    """A Markov chain of n behaviours that starts resting at the den."""
    s = np.empty(n, dtype=int)
    s[0] = RESTING
    for t in range(1, n):
        s[t] = rng.choice(3, p=TRANSMAT[s[t - 1]])
    return s


def night(rng, n_rows):
    """(features, true behaviours) of one night with n_rows rows."""
    n_steps = n_rows + 1
    state = behaviours(rng, n_steps)
    heading = rng.uniform(-np.pi, np.pi)
    pos = np.zeros((n_steps + 1, 2))  # the den is at the origin
    for t in range(n_steps):
        s = state[t]
        if s == RESTING:
            pos[t + 1] = pos[t]
            continue
        centre, kappa = TURN_VONMISES[s]
        heading += rng.vonmises(centre, kappa)
        shape, mean = STEP_GAMMA[s]
        length = rng.gamma(shape, mean / shape)
        pos[t + 1] = pos[t] + length * np.array([np.cos(heading),
                                                 np.sin(heading)])
    fixes = pos + rng.normal(0.0, GPS_SD_M, size=pos.shape)
    steps = np.diff(fixes, axis=0)                      # n_steps x 2
    length = np.hypot(steps[:, 0], steps[:, 1])
    cos_turn = (np.sum(steps[1:] * steps[:-1], axis=1)
                / (length[1:] * length[:-1]))
    features = np.column_stack([np.log(length[1:]),
                                np.clip(cos_turn, -1.0, 1.0)])
    return features, state[1:]


def main():
    rng = np.random.default_rng(SEED)
    here = os.path.dirname(os.path.abspath(__file__))
    lengths = rng.integers(MIN_ROWS, MAX_ROWS + 1, size=N_NIGHTS)
    parts = [night(rng, int(n)) for n in lengths]
    features = np.concatenate([f for f, _ in parts])
    states = np.concatenate([s for _, s in parts])

    with open(os.path.join(here, "tracks.csv"), "w", encoding="ascii",
              newline="\n") as f:
        f.write("log_step_m,turn_cos\n")
        for step, turn in features:
            f.write("%.4f,%.4f\n" % (step, turn))
    with open(os.path.join(here, "tracks-lengths.txt"), "w", encoding="ascii",
              newline="\n") as f:
        f.writelines("%d\n" % n for n in lengths)
    with open(os.path.join(here, "tracks-states.txt"), "w", encoding="ascii",
              newline="\n") as f:
        f.writelines("%d\n" % s for s in states)
    counts = np.bincount(states, minlength=3)
    print("wrote %s: %d nights, %d steps (%d resting, %d foraging, "
          "%d travelling)" % (os.path.join(here, "tracks.csv"), N_NIGHTS,
                              len(states), *counts))


if __name__ == "__main__":
    main()
