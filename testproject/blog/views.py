import uuid

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render

from .forms import CommentForm
from .models import Entry
from .ratelimit import comment_wait
from .tasks import spam_filter

#: Comments per page under an entry.
COMMENTS_PER_PAGE = 20


def _comments(request, entry):
    """One page of the entry's comments (``?page=``; a bad number is the last or first)."""
    return Paginator(entry.comments.all(), COMMENTS_PER_PAGE).get_page(request.GET.get("page"))


def index(request):
    return render(request, "blog/index.html", {"entries": Entry.objects.all()})


def entry(request, slug):
    entry = get_object_or_404(Entry, slug=slug)
    return render(
        request,
        "blog/entry.html",
        {
            "entry": entry,
            "form": CommentForm(),
            "comments": _comments(request, entry),
        },
    )


def add_comment(request, slug):
    """Save the comment and enqueue its spam check in the request's transaction."""
    entry = get_object_or_404(Entry, slug=slug)
    form = CommentForm(request.POST or None)
    status = 400 if request.method == "POST" else 200
    # Only comments that would be saved count: a form sent back with an error costs none.
    wait = comment_wait(request.META.get("REMOTE_ADDR")) if form.is_valid() else 0
    if wait:
        form.add_error(
            None,
            f"Too many comments from your address: at most {settings.BLOG_COMMENTS_PER_MINUTE}"
            f" a minute. Try again in {wait} seconds.",
        )
        status = 429
    elif request.method == "POST" and form.is_valid():
        comment = form.save(commit=False)
        comment.entry = entry
        # The task's id is chosen here, so the comment is saved once, knowing its judge.
        comment.spam_task_id = str(uuid.uuid4())
        comment.save()
        # ATOMIC_REQUESTS: the task row is written when the request's transaction commits,
        # so the worker never looks for a comment that is not there yet, and a request that
        # fails after this line enqueues nothing.
        spam_filter.apply_async(
            kwargs={"comment_id": comment.id, "remote_addr": request.META.get("REMOTE_ADDR")},
            task_id=comment.spam_task_id,
        )
        return redirect(f"{entry.get_absolute_url()}#comment-{comment.id}")
    response = render(
        request,
        "blog/entry.html",
        {
            "entry": entry,
            "form": form,
            "comments": _comments(request, entry),
        },
        status=status,
    )
    if wait:
        response["Retry-After"] = str(wait)
    return response
