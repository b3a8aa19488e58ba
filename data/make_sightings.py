#!/usr/bin/env python3
"""Writes data/sightings.csv, the demo data set (run from anywhere).

The story: a wildlife survey logged 650 sightings of two species in a
24 km x 16 km stretch of upland, as positions in km east and km north of
the survey grid's origin. The log does not say which species was seen.

- About 400 red deer graze along a river valley that runs from the south-west
  to the north-east (bearing about 35 degrees north of east): a long, narrow
  cloud, some 4 km spread along the valley and 0.7 km across it.
- About 250 red foxes live around a village on the valley's south-eastern
  side: a smaller, rounder cloud (1.5 km by 0.8 km, its long axis running
  north-west to south-east), whose western edge reaches the valley floor.

The two groups overlap a little, have different shapes and orientations,
and a two-component full-covariance mixture separates them:

    emgmm fit data/sightings.csv -k 2 -o sightings-model.json --labels species.csv

numpy's default_rng with a fixed seed makes the file reproducible:
    /usr/bin/python3 data/make_sightings.py      (writes data/sightings.csv)
"""
import os

import numpy as np

SEED = 1859
N_DEER, N_FOX = 400, 250


def rotated_cloud(rng, n, centre, sd_long, sd_across, angle_deg):
    t = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    z = rng.standard_normal((n, 2)) * [sd_long, sd_across]
    return np.asarray(centre) + z @ rot.T


def main():
    rng = np.random.default_rng(SEED)
    deer = rotated_cloud(rng, N_DEER, (10.0, 7.0), 4.0, 0.7, 35.0)
    foxes = rotated_cloud(rng, N_FOX, (13.6, 5.7), 1.5, 0.8, -45.0)
    points = np.concatenate([deer, foxes])
    points = points[rng.permutation(len(points))]  # unlabeled: mix the log
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "sightings.csv")
    with open(out, "w", encoding="ascii", newline="\n") as f:
        f.write("x_km,y_km\n")
        for x, y in points:
            f.write("%.3f,%.3f\n" % (x, y))
    print("wrote %s: %d sightings" % (out, len(points)))


if __name__ == "__main__":
    main()
