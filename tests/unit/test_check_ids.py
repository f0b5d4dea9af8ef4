"""The README's system checks table lists every check id the code can report, and no other."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ID = re.compile(r"django_tasks\.[EWI]\d{3}")


def _ids_in_code() -> set[str]:
    sources = (ROOT / "django_tasks").rglob("*.py")
    return {found for path in sources for found in ID.findall(path.read_text())}


def _ids_in_table() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### System checks", 1)[1].split("\n\n`tests/unit", 1)[0]
    return set(re.findall(r"^\| `(django_tasks\.[EWI]\d{3})` \|", table, re.MULTILINE))


def test_every_check_id_in_the_code_is_in_the_readmes_table():
    assert _ids_in_code() - _ids_in_table() == set()


def test_every_check_id_in_the_readmes_table_is_one_the_code_reports():
    assert _ids_in_table() - _ids_in_code() == set()


def test_each_table_row_gives_the_level_its_id_says():
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `django_tasks\.([EWI])\d{3}` \| (\w+) \|", readme, re.MULTILINE)
    level = {"E": "error", "W": "warning", "I": "info"}
    assert rows and all(level[kind] == written for kind, written in rows)
