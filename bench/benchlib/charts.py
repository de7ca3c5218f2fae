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
    recs = results["records"]
    if not any(r["measure"] in ("status_all", "idle") for r in recs):
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key in order(results):
        points = sorted((r["n"], median(r["samples"]) * 1000) for r in recs
                        if r["measure"] == "status_all" and r["peer"] == key and r["samples"])
        if points:
            left.plot(*zip(*points), marker="o", label=label(results, key))
        passes = sorted((r["n"], max(b["cpu_ms"] for b in r["bursts"])) for r in recs
                        if r["measure"] == "idle" and r["peer"] == key and r["bursts"])
        if passes:
            right.plot(*zip(*passes), marker="o", label=label(results, key))
    for ax, title, ylabel in ((left, "status all", "median wall ms"),
                              (right, "one periodic daemon pass (largest burst)", "CPU ms")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N programs")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "scaling.png"), dpi=110)
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
