"""What lies off the machine in the guide's examples, stubbed; each records what it saw."""

from __future__ import annotations

import errno

from tests.models import Execution


def note(key: str) -> None:
    """Record `key` in the Execution table (unique: a second note of one key fails)."""
    Execution.objects.create(key=key)


def noted(prefix: str) -> list[str]:
    return sorted(Execution.objects.filter(key__startswith=prefix).values_list("key", flat=True))


class Twitter:
    """A Twitter client that fails while the tweet says it should."""

    class FailWhaleError(Exception):
        pass

    class LoginError(Exception):
        pass

    def __init__(self, oauth: str) -> None:
        if oauth == "bad-login":
            raise Twitter.LoginError("bad credentials")
        self.oauth = oauth

    def update_status(self, tweet: str) -> None:
        if tweet.startswith("whale"):
            raise Twitter.FailWhaleError("over capacity")
        note(f"tweet:{tweet}")

    def get_timeline(self, user: str) -> list[str]:
        return [f"{user}: first", f"{user}: second"]


twitter = Twitter("token")


class Redis:
    """``redis.ismember(set, member)`` over the Execution table (key ``set:member``)."""

    def ismember(self, name: str, member: str) -> bool:
        return Execution.objects.filter(key=f"{name}:{member}").exists()


redis = Redis()


class Database:
    """``Database.connect()`` counts connections, so a test sees how many were opened."""

    connections = 0

    @classmethod
    def connect(cls) -> Database:
        cls.connections += 1
        return cls()

    @property
    def table(self) -> Database:
        return self

    def all(self) -> list[int]:
        return [1, 2, 3]


def process_row(row: int) -> None:
    """The guide's ``process_row``: nothing to do."""


class Renderer:
    """Renders a scene; the path says how it fails."""

    def render_scene(self, file: str) -> str:
        if file == "huge":
            raise MemoryError()
        if file == "nomem":
            raise OSError(errno.ENOMEM, "Cannot allocate memory")
        if file == "flaky":
            raise RuntimeError("render farm busy")
        note(f"rendered:{file}")
        return file


renderer = Renderer()


def get_file(path: str) -> str:
    return path


class HttpLib:
    def get(self, url: str) -> str:
        return f"<html>{url}</html>"


myhttplib = HttpLib()


class Parser:
    def parse_document(self, page: str) -> dict:
        return {"length": len(page)}


myparser = Parser()


class PageInfoManager:
    def create(self, url: str = "", info: dict | None = None) -> str:
        note(f"page:{url}:{info['length']}")
        return url


class PageInfo:
    objects = PageInfoManager()


def something_raising() -> None:
    raise ConnectionError("try later")


def something() -> None:
    note("something")
