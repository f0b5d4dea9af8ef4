# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "State" and "Database transactions" (the blog's Entry plays the Article)."""

from django.db import transaction
from django.http import HttpResponseRedirect

from django_tasks import app
from testproject.blog.models import Entry as Article


@app.task
def expand_abbreviations(article_id):
    article = Article.objects.get(id=article_id)
    article.body.replace('MyCorp', 'My Corporation')
    article.save()


@transaction.atomic
def create_article(request):
    article = Article.objects.create()
    expand_abbreviations.delay(article.pk)
    return HttpResponseRedirect('/articles/')
