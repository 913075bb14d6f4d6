#!/usr/bin/env python3
"""Plots a run's loss curve: plot_loss.py RUN_DIR/metrics.jsonl OUT.png

Reads the JSONL metrics ttt-train appends (one object per line: training lines have "loss",
evaluation lines "eval_loss" and "eval_accuracy") and draws training and evaluation loss against
the step, with evaluation accuracy on a second axis when present.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(metrics, out):
    train, evals = [], []
    with open(metrics) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            m = json.loads(line)
            if "loss" in m:
                train.append((m["step"], m["loss"]))
            if "eval_loss" in m:
                evals.append((m["step"], m["eval_loss"], m.get("eval_accuracy")))
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train loss")
    if evals:
        ax.plot([e[0] for e in evals], [e[1] for e in evals], "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if evals and evals[0][2] is not None:
        ax2 = ax.twinx()
        ax2.plot([e[0] for e in evals], [e[2] for e in evals], "s--", color="tab:green", label="eval accuracy")
        ax2.set_ylabel("accuracy")
        ax2.set_ylim(0, 1)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
