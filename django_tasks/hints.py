"""'Did you mean ...?': the one helper that suggests the closest known name for a typo."""

from __future__ import annotations

from collections.abc import Iterable


def _distance(a: str, b: str) -> int:
    """The edit distance (insertions, deletions, substitutions) between `a` and `b`."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(name: object, known: Iterable[str]) -> str | None:
    """
    Return the known name closest to `name`, or None if none is close.

    Close means a small edit distance (at most a third of the name's length, at least 1)
    or one name holding the other (``retry_delay`` -> ``default_retry_delay``):
    ``DEFAULT_RETRY_DELAYS`` suggests ``DEFAULT_RETRY_DELAY``, not ``DEFAULT_QUEUE``.
    """
    found = close_names(name, known, n=1)
    return found[0] if found else None


def distance(a: str, b: str) -> int:
    """The edit distance between `a` and `b`, ignoring case."""
    return _distance(a.lower(), b.lower())


def unknown_names(given: Iterable[object], known: Iterable[str]) -> str | None:
    """The names in `given` not in `known`, each with its closest known one; None if none."""
    allowed = set(known)
    unknown = sorted({str(k) for k in given} - allowed)
    if not unknown:
        return None
    hints = []
    for key in unknown:
        close = closest(key, allowed)
        hints.append(f"{key!r} (did you mean {close!r}?)" if close else repr(key))
    return ", ".join(hints)


def close_names(name: object, known: Iterable[str], n: int = 5) -> list[str]:
    """The known names closest to `name` (the nearest ones only, up to `n`), closest first."""
    text = str(name).lower()
    limit = max(1, len(text) // 3)
    scored = []
    for candidate in known:
        other = candidate.lower()
        d = _distance(text, other)
        if d > limit and len(text) >= 4 and (text in other or other in text):
            d = limit  # a name inside the other: close, but after true near-misses
        if d <= limit:
            scored.append((d, candidate))
    if not scored:
        return []
    scored.sort()
    best = scored[0][0]
    return [k for d, k in scored if d == best][:n]
