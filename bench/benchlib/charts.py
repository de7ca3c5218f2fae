"""PNG charts from results.json; runs in the bench's own venv (matplotlib).

    python -m benchlib.charts OUTDIR
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(outdir):
    with open(os.path.join(outdir, "results.json")) as handle:
        return json.load(handle)


def order(results):
    keys = list(results["peers"])
    return sorted(keys, key=lambda k: (k != "ours", k == "floor", k))


def label(results, key):
    return results["peers"][key]["label"]


def crash_chart(results, outdir, measure="crash_recovery", filename="crash_recovery.png",
                title="Crash recovery", xlabel="ms until a new process is alive (log scale)"):
    recs = [r for r in results["records"] if r["measure"] == measure and r["samples"]]
    ns = sorted({r["n"] for r in recs})
    if not ns:
        return False
    fig, axes = plt.subplots(1, len(ns), figsize=(6 * len(ns), 4.5), squeeze=False)
    for ax, n in zip(axes[0], ns):
        keys = [k for k in order(results)
                if any(r["peer"] == k and r["n"] == n for r in recs)]
        data = [[s * 1000 for s in next(r["samples"] for r in recs
                                         if r["peer"] == k and r["n"] == n)] for k in keys]
        try:
            ax.boxplot(data, orientation="horizontal", whis=(0, 100))
        except TypeError:  # matplotlib before 3.10
            ax.boxplot(data, vert=False, whis=(0, 100))
        for i, values in enumerate(data, start=1):
            ax.scatter(values, [i] * len(values), s=10, alpha=0.6)
        ax.set_yticks(range(1, len(keys) + 1), [label(results, k) for k in keys])
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(f"{title}, N = {n}")
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, filename), dpi=110)
    plt.close(fig)
    return True


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def scaling_chart(results, outdir):
    """One log-log panel per figure measured at more than one N (report.scale_curves),
    every manager on it, and a dotted line of slope 1 (grows as fast as N) for scale."""
    from .report import Data, scale_curves

    data = Data(results)
    colors = {key: f"C{i}" for i, key in enumerate(order(results))}
    panels = {}  # title -> (unit, [(key, points)])
    for key in order(results):
        if key == "floor":
            continue
        for title, unit, pts in scale_curves(data, key):
            panels.setdefault(title, (unit, []))[1].append((key, pts))
    if not panels:
        return False
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, (title, (unit, lines)) in zip(flat, panels.items()):
        for key, pts in lines:
            ax.plot(*zip(*pts), marker="o", label=label(results, key), color=colors[key])
        first = min(lines, key=lambda item: item[0] != "ours")[1]
        n0, v0 = first[0]
        n1 = first[-1][0]
        ax.plot([n0, n1], [v0, v0 * n1 / n0], linestyle=":", color="grey",
                label="grows as N")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N programs")
        ax.set_ylabel(unit)
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "scaling.png"), dpi=100)
    plt.close(fig)
    return True


def main():
    outdir = sys.argv[1]
    results = load(outdir)
    drawn = {
        "crash_recovery.png": crash_chart(results, outdir),
        "mass_crash.png": crash_chart(results, outdir, "mass_crash", "mass_crash.png",
                                      "Mass crash (all N SIGKILLed at once)",
                                      "ms until all N are alive again (log scale)"),
        "scaling.png": scaling_chart(results, outdir),
    }
    for name, done in drawn.items():  # a chart of an earlier run must not be shown as this one's
        if not done and os.path.exists(os.path.join(outdir, name)):
            os.unlink(os.path.join(outdir, name))


if __name__ == "__main__":
    main()
