#!/usr/bin/env python3
"""Plots loss by position from ttt-eval's JSON: plot_eval.py EVAL.json OUT.png

One line per run: the mean cross-entropy of the targets in each bucket of positions of the
evaluation windows. A model that uses its context (TTT, attention) predicts later positions
better; the curves of several runs on one plot compare them.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(path, out):
    with open(path) as f:
        report = json.load(f)
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in report["runs"]:
        buckets = run["loss_by_position"]
        ax.plot(buckets["position"], buckets["loss"], marker="o", markersize=3, label=f'{run["run"]} (step {run["step"]})')
    ax.set_xlabel("position in the window (bucket start)")
    ax.set_ylabel("loss (cross-entropy, nats)")
    ax.set_title("loss by position")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
