"""The blog of Celery's Tasks guide example: entries and their comments."""

from django.db import models
from django.urls import reverse
from django.utils import timezone


class Entry(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    body = models.TextField()
    pub_date = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["-pub_date"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("blog:entry", args=[self.slug])


class Comment(models.Model):
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="comments")
    name = models.CharField(max_length=100)
    email = models.EmailField()
    homepage = models.URLField(blank=True)
    comment = models.TextField()
    pub_date = models.DateTimeField(default=timezone.now)
    #: None until the spam filter has judged the comment.
    is_spam = models.BooleanField(null=True, default=None)
    #: The id of the spam_filter task that judges (or judged) it.
    spam_task_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["pub_date"]

    def __str__(self) -> str:
        return f"{self.name} on {self.entry}"
