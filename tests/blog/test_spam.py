"""The blog's spam filter: the local scorer, and Akismet with only its HTTP API mocked."""

from __future__ import annotations

import urllib.parse

import httpx
import pytest

from django_tasks import states
from testproject.blog import spam
from testproject.blog import tasks as blog_tasks
from testproject.blog.models import Comment, Entry

AKISMET = "rest.akismet.com"


@pytest.mark.parametrize(
    ("text", "homepage", "is_spam", "reasons"),
    [
        ("Lovely write-up, thanks.", "", False, []),
        ("See http://a.example and http://b.example", "", False, []),
        ("See http://a.example http://b.example http://c.example", "", True, ["3 links"]),
        ("See http://a.example and http://b.example", "http://me.example", True, ["3 links"]),
        ("Win the LOTTERY today", "", True, ["blocked word 'lottery'"]),
        ("THIS IS THE BEST POST I HAVE EVER READ", "", True, ["shouting"]),
        ("OK", "", False, []),  # too short to be shouting
    ],
)
def test_local_scorer(text, homepage, is_spam, reasons):
    assert spam.score(text, homepage) == (is_spam, reasons)


@pytest.fixture
def comment(db):
    entry = Entry.objects.create(title="Tasks", slug="tasks", body="...")
    return Comment.objects.create(
        entry=entry,
        name="Lucky",
        email="lucky@example.net",
        homepage="http://lucky.example",
        comment="Claim your crypto giveaway now!",
    )


def test_spam_filter_without_a_key_scores_locally(comment, settings):
    settings.AKISMET_API_KEY = ""
    result = blog_tasks.spam_filter.apply(kwargs={"comment_id": comment.pk})
    assert result.state == states.SUCCESS
    assert result.result == {
        "comment_id": comment.pk,
        "is_spam": True,
        "judge": "local",
        "reasons": ["blocked word 'crypto giveaway'"],
    }
    comment.refresh_from_db()
    assert comment.is_spam is True


def test_spam_filter_of_a_deleted_comment_has_nothing_to_judge(comment):
    pk = comment.pk
    comment.delete()
    result = blog_tasks.spam_filter.apply(kwargs={"comment_id": pk})
    assert result.state == states.SUCCESS
    assert result.result["reasons"] == ["deleted"]


class FakeAkismet:
    """Akismet's HTTP API (verify-key, comment-check) as an httpx transport handler."""

    def __init__(
        self,
        key: str = "secret-key",
        spam_words: tuple[str, ...] = ("giveaway",),
        down: bool = False,
    ) -> None:
        self.key, self.spam_words, self.down = key, spam_words, down
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        self.requests.append((request.url.path, form))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        assert request.url.host == AKISMET
        if request.url.path == "/1.1/verify-key":
            return httpx.Response(200, text="valid" if form["key"] == self.key else "invalid")
        if request.url.path == "/1.1/comment-check":
            assert form["api_key"] == self.key
            is_spam = any(w in form["comment_content"] for w in self.spam_words)
            return httpx.Response(200, text="true" if is_spam else "false")
        return httpx.Response(404)


@pytest.fixture
def akismet_api(monkeypatch, settings):
    """Route the task's Akismet calls to a FakeAkismet; returns it."""
    settings.AKISMET_API_KEY = "secret-key"
    settings.AKISMET_SITE_URL = "http://blog.example/"
    fake = FakeAkismet()
    monkeypatch.setattr(
        blog_tasks, "akismet_http_client", lambda: httpx.Client(transport=httpx.MockTransport(fake))
    )
    return fake


def test_spam_filter_with_a_key_asks_akismet(comment, akismet_api):
    result = blog_tasks.spam_filter.apply(
        kwargs={"comment_id": comment.pk, "remote_addr": "203.0.113.9"}
    )
    assert result.state == states.SUCCESS
    assert result.result == {
        "comment_id": comment.pk,
        "is_spam": True,
        "judge": "akismet",
        "reasons": [],
    }
    comment.refresh_from_db()
    assert comment.is_spam is True
    paths = [p for p, _ in akismet_api.requests]
    assert paths == ["/1.1/verify-key", "/1.1/comment-check"]
    check = akismet_api.requests[1][1]
    assert {
        k: check[k]
        for k in (
            "user_ip",
            "comment_type",
            "comment_author",
            "comment_author_email",
            "comment_author_url",
            "blog",
        )
    } == {
        "user_ip": "203.0.113.9",
        "comment_type": "comment",
        "comment_author": "Lucky",
        "comment_author_email": "lucky@example.net",
        "comment_author_url": "http://lucky.example",
        "blog": "http://blog.example/",
    }


def test_spam_filter_marks_ham_when_akismet_says_so(comment, akismet_api):
    akismet_api.spam_words = ()
    result = blog_tasks.spam_filter.apply(kwargs={"comment_id": comment.pk})
    assert result.result["is_spam"] is False
    comment.refresh_from_db()
    assert comment.is_spam is False


def test_unreachable_akismet_is_retried_then_fails(comment, akismet_api):
    akismet_api.down = True
    result = blog_tasks.spam_filter.apply(kwargs={"comment_id": comment.pk}, throw=False)
    assert result.state == states.FAILURE
    assert isinstance(result.result, blog_tasks.NetworkError)
    # The first try and max_retries=5 retries (eagerly, at once).
    assert len(akismet_api.requests) == 6
    comment.refresh_from_db()
    assert comment.is_spam is None


def test_a_bad_akismet_key_fails_at_once_without_retrying(comment, akismet_api, settings):
    settings.AKISMET_API_KEY = "wrong-key"
    result = blog_tasks.spam_filter.apply(kwargs={"comment_id": comment.pk}, throw=False)
    assert result.state == states.FAILURE
    assert type(result.result).__name__ == "APIKeyError"
    assert len(akismet_api.requests) == 1
