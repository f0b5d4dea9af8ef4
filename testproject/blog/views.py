from django.shortcuts import get_object_or_404, redirect, render

from .forms import CommentForm
from .models import Entry
from .tasks import spam_filter


def index(request):
    return render(request, "blog/index.html", {"entries": Entry.objects.all()})


def entry(request, slug):
    entry = get_object_or_404(Entry, slug=slug)
    return render(request, "blog/entry.html", {
        "entry": entry, "form": CommentForm(), "comments": entry.comments.all(),
    })


def add_comment(request, slug):
    """Save the comment and enqueue its spam check in the request's transaction."""
    entry = get_object_or_404(Entry, slug=slug)
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        comment = form.save(commit=False)
        comment.entry = entry
        comment.save()
        remote_addr = request.META.get("REMOTE_ADDR")
        # ATOMIC_REQUESTS: the row is written when the request's transaction commits, so
        # the worker never looks for a comment that is not there yet.
        result = spam_filter.delay(comment_id=comment.id, remote_addr=remote_addr)
        comment.spam_task_id = result.id
        comment.save(update_fields=["spam_task_id"])
        return redirect(entry)
    return render(request, "blog/entry.html", {
        "entry": entry, "form": form, "comments": entry.comments.all(),
    })
