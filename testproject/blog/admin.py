"""The blog's admin: entries, and comments with the spam filter's verdict and its task."""

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_tasks.admin import badge
from django_tasks.models import TaskMessage

from .models import Comment, Entry
from .tasks import spam_filter


class CommentInline(admin.TabularInline):
    model = Comment
    fields = ("name", "email", "comment", "is_spam", "pub_date")
    readonly_fields = ("is_spam",)
    extra = 0


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "pub_date")
    prepopulated_fields = {"slug": ("title",)}
    search_fields = ("title", "body")
    inlines = [CommentInline]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("name", "entry", "excerpt", "verdict", "spam_task", "pub_date")
    list_filter = ("is_spam", "entry")
    search_fields = ("name", "email", "comment")
    list_select_related = ("entry",)
    readonly_fields = ("verdict", "spam_task")
    fields = (
        "entry",
        "name",
        "email",
        "homepage",
        "comment",
        "pub_date",
        "is_spam",
        "verdict",
        "spam_task",
    )
    actions = ("check_again",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    class Media:
        css = {"all": ("django_tasks/admin.css",)}

    def get_queryset(self, request):
        # The judging task's state in the same query as the comments: no query per row.
        state = TaskMessage.objects.filter(id=OuterRef("spam_task_id")).values("state")[:1]
        return super().get_queryset(request).annotate(spam_task_state=Subquery(state))

    @admin.display(description=_("comment"))
    def excerpt(self, obj):
        return obj.comment if len(obj.comment) <= 60 else f"{obj.comment[:57]}…"

    @admin.display(description=_("verdict"), ordering="is_spam")
    def verdict(self, obj):
        if obj.is_spam is None:
            return format_html('<span class="verdict verdict-pending">{}</span>', _("pending"))
        if obj.is_spam:
            return format_html(
                '<span class="verdict verdict-spam dt-badge dt-failure">{}</span>', _("spam")
            )
        return format_html(
            '<span class="verdict verdict-ham dt-badge dt-success">{}</span>', _("ham")
        )

    @admin.display(description=_("spam check"))
    def spam_task(self, obj):
        if not obj.spam_task_id:
            return "-"
        url = reverse("admin:django_tasks_taskmessage_change", args=[quote(obj.spam_task_id)])
        state = getattr(obj, "spam_task_state", None)
        return format_html(
            '<a class="spam-task" href="{}">{}</a> {}',
            url,
            obj.spam_task_id[:8],
            badge(state) if state else "",
        )

    @admin.action(description=_("Check selected comments for spam again"), permissions=["change"])
    def check_again(self, request, queryset):
        n = 0
        with transaction.atomic():
            for comment in queryset.select_for_update():
                result = spam_filter.delay(comment_id=comment.pk)
                Comment.objects.filter(pk=comment.pk).update(is_spam=None, spam_task_id=result.id)
                n += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d comment queued for a spam check.",
                "%(count)d comments queued for a spam check.",
                n,
            )
            % {"count": n},
        )
