"""The logistic confidence both fits use (tune.py for the lexical matcher,
e5_stage.py for the help centre's second stage)."""
import zlib

import numpy as np


def logistic(X, Y, ridge=0.01, steps=50):
    """Bias first, then one weight per column of X: Newton's method with a
    small ridge, so a separable half still gives finite weights."""
    Xb = np.hstack([np.ones((len(X), 1)), X])
    beta = np.zeros(Xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-Xb @ beta))
        g = Xb.T @ (p - Y) + ridge * beta
        H = (Xb.T * (p * (1 - p))) @ Xb + ridge * np.eye(len(beta))
        beta -= np.linalg.solve(H, g)
    return beta


def fold_of(query, k, salt=""):
    """The cross-validation fold of a case, by its query, so that a query
    asked of two bases stays in one fold."""
    return zlib.crc32((salt + query).encode("utf-8")) % k
