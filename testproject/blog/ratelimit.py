"""
Comments per client address per minute: a counter in Django's cache for each address and
minute (fixed windows), incremented atomically (``cache.add`` then ``cache.incr``).

The cache is shared by the processes that share it: the demo's one ``runserver`` process
with the default local-memory cache, or every web process of a site with a database,
Memcached or Redis cache. Behind a reverse proxy ``REMOTE_ADDR`` is the proxy's: set it
from the proxy's header (as the proxy's documentation says) before counting by it.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

WINDOW = 60


def comment_wait(remote_addr: str | None) -> int:
    """
    Count one comment from `remote_addr`; return 0 if it is allowed, else the seconds
    until the address may post again. ``BLOG_COMMENTS_PER_MINUTE = None`` turns it off.
    """
    limit = settings.BLOG_COMMENTS_PER_MINUTE
    if limit is None:
        return 0
    now = time.time()
    window = int(now // WINDOW)
    key = f"blog:comments:{remote_addr or '-'}:{window}"
    # add() is a no-op when the key exists, so concurrent first posts count once each.
    cache.add(key, 0, timeout=WINDOW * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this post starts the window
        cache.set(key, 1, timeout=WINDOW * 2)
        count = 1
    if count <= limit:
        return 0
    return max(1, int((window + 1) * WINDOW - now + 0.999))
