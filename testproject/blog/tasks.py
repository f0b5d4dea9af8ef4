"""The spam filter of Celery's Tasks guide, done right: ids in, retries on network errors."""

from django.conf import settings

from django_tasks import app, get_task_logger

from . import spam

logger = get_task_logger(__name__)


class NetworkError(Exception):
    """Akismet could not be reached."""


def akismet_http_client():
    """
    The HTTP client Akismet's calls go through: None lets the library build its own.

    The one seam the tests use, to answer Akismet's HTTP API with an ``httpx.MockTransport``
    (the only thing the example does off the machine).
    """
    return None


def ask_akismet(comment, remote_addr: str | None) -> bool:
    """
    Ask Akismet (the maintained ``akismet`` package) whether the comment is spam.

    An unreachable or failing service raises ``NetworkError`` (the task retries); a bad key
    raises ``akismet.ConfigurationError`` (the task fails at once: retrying cannot fix it).
    """
    import akismet

    config = akismet.Config(key=settings.AKISMET_API_KEY, url=settings.AKISMET_SITE_URL)
    try:
        with akismet.SyncClient(config=config, http_client=akismet_http_client()) as client:
            return bool(
                client.comment_check(
                    user_ip=remote_addr or "127.0.0.1",
                    comment_type="comment",
                    comment_author=comment.name,
                    comment_author_email=comment.email,
                    comment_author_url=comment.homepage,
                    comment_content=comment.comment,
                )
            )
    except akismet.RequestError as exc:
        raise NetworkError(str(exc)) from exc


@app.task(
    bind=True,
    max_retries=5,
    default_retry_delay=30,
    autoretry_for=(NetworkError,),
    retry_backoff=True,
)
def spam_filter(self, comment_id: int, remote_addr: str | None = None) -> dict:
    """Judge one comment: Akismet when a key is set, the local scorer otherwise."""
    from .models import Comment

    comment = Comment.objects.filter(pk=comment_id).first()
    if comment is None:
        # Deleted before its turn: nothing to judge, and nothing a retry could fix.
        logger.info("comment %s is gone; nothing to check", comment_id)
        return {"comment_id": comment_id, "is_spam": None, "judge": None, "reasons": ["deleted"]}
    if settings.AKISMET_API_KEY:
        is_spam, reasons, judge = ask_akismet(comment, remote_addr), [], "akismet"
    else:
        (is_spam, reasons), judge = spam.score(comment.comment, comment.homepage), "local"
    Comment.objects.filter(pk=comment_id).update(is_spam=is_spam)
    logger.info(
        "comment %s by %r is %s (%s)", comment_id, comment.name, "spam" if is_spam else "ham", judge
    )
    return {"comment_id": comment_id, "is_spam": is_spam, "judge": judge, "reasons": reasons}
