# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""
Guide, "Avoid launching synchronous subtasks", the **Good** example.

Celery 3.1's text writes ``fetch_page.s()`` and ``chain()``, which calls ``fetch_page()``
without its url (later guides fixed it to ``fetch_page.s(url)``, as here); the 3.1 text as
written fails at the call with an error naming the missing argument.
"""

from django_tasks import app

from .stubs import PageInfo, myhttplib, myparser


def update_page_info(url):
    # fetch_page -> parse_page -> store_page
    chain = fetch_page.s(url) | parse_page.s() | store_page_info.s(url)
    chain()


@app.task()
def fetch_page(url):
    return myhttplib.get(url)


@app.task()
def parse_page(page):
    return myparser.parse_document(page)


@app.task(ignore_result=True)
def store_page_info(info, url):
    PageInfo.objects.create(url=url, info=info)
