"""Seed the demo: a superuser (password printed), a blog entry, ham and spam comments."""

import secrets
import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from testproject.blog.models import Comment, Entry
from testproject.blog.tasks import spam_filter

COMMENTS = [
    ("Ada", "ada@example.com", "", "Lovely write-up, the part on transactions helped a lot."),
    (
        "Grace",
        "grace@example.com",
        "https://example.org",
        "Thanks! Does this work with PostgreSQL's SKIP LOCKED too?",
    ),
    (
        "Spammy",
        "win@example.net",
        "http://cheap.example",
        "CHEAP PILLS and casino bonus at http://a.example http://b.example http://c.example",
    ),
    ("Lucky", "lotto@example.net", "", "You won the lottery! Claim your crypto giveaway now."),
]


class Command(BaseCommand):
    help = "Seed the demo blog and an admin user; print the admin's password."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        password = secrets.token_urlsafe(9)
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        with transaction.atomic():
            entry, created = Entry.objects.get_or_create(
                slug="tasks-in-the-database",
                defaults={
                    "title": "Tasks in the database",
                    "body": "Our queue is a table: no broker to run, nothing lost.",
                },
            )
            if created:
                for name, email, homepage, text in COMMENTS:
                    comment = Comment.objects.create(
                        entry=entry,
                        name=name,
                        email=email,
                        homepage=homepage,
                        comment=text,
                        spam_task_id=str(uuid.uuid4()),
                    )
                    spam_filter.apply_async(
                        kwargs={"comment_id": comment.id, "remote_addr": "127.0.0.1"},
                        task_id=comment.spam_task_id,
                    )
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin user: {username} / password: {password}  (log in at /admin/)"
            )
        )
