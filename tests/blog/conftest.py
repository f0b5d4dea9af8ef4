"""Fixtures of the blog's tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_comment_counts():
    """The comment rate limit counts in the cache: each test starts from none."""
    cache.clear()
    yield
    cache.clear()
