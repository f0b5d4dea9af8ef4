"""The offline spam scorer: links, blocked words and shouting, no network."""

import re

from django.conf import settings

_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)


def score(comment: str, homepage: str = "") -> tuple[bool, list[str]]:
    """Say whether `comment` looks like spam, and why."""
    reasons = []
    links = len(_LINK.findall(comment)) + (1 if homepage else 0)
    if links > settings.SPAM_MAX_LINKS:
        reasons.append(f"{links} links")
    lowered = comment.lower()
    for word in settings.SPAM_BLOCKED_WORDS:
        if word.lower() in lowered:
            reasons.append(f"blocked word {word!r}")
    letters = [c for c in comment if c.isalpha()]
    if len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        reasons.append("shouting")
    return bool(reasons), reasons
