"""min / median / p95 / max of a list of samples."""

import statistics


def percentile(ordered, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(samples):
    values = sorted(v for v in samples if v is not None)
    if not values:
        return None
    return {"n": len(values), "min": values[0], "median": statistics.median(values),
            "p95": percentile(values, 0.95), "max": values[-1]}


def ratio(ours, theirs):
    if ours is None or not theirs:
        return None
    return ours / theirs
