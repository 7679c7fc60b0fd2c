"""Reject bad answers before anything is generated: every problem at once, exit status 1.

The answers arrive as JSON data (never pasted into this source), so no value can run code.
"""

import json
import keyword
import re
import sys
import unicodedata
import zoneinfo

CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")

# Top-level modules a generated project imports or installs: a package of the same
# name would shadow them. Plus the project's own top-level folders.
RESERVED_NAMES = frozenset(
    {
        "asgiref",
        "autobahn",
        "channels",
        "channels_redis",
        "config",
        "daphne",
        "django",
        "environ",
        "manage",
        "msgpack",
        "psycopg",
        "pytest",
        "pytest_asyncio",
        "pytest_django",
        "redis",
        "ruff",
        "sqlparse",
        "staticfiles",
        "test",
        "tests",
        "twisted",
        "txaio",
        "whitenoise",
        "zope",
    }
)
# Longer names would push generated lines past the formatter's line length.
MAX_SLUG_LENGTH = 30
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# PEP 440, from the specification's appendix.
VERSION = re.compile(
    r"v?(?:(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)"
    r"(?P<pre>[-_\.]?(?P<pre_l>(a|b|c|rc|alpha|beta|pre|preview))[-_\.]?(?P<pre_n>[0-9]+)?)?"
    r"(?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?))?"
    r"(?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?)"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?",
    re.IGNORECASE,
)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def suggest_slug(text: str) -> str:
    """A valid slug made from `text` (what the user typed), to offer in an error message."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = "_".join(words)[:MAX_SLUG_LENGTH].strip("_") or "realtime_project"
    if slug[0].isdigit():
        slug = f"project_{slug}"[:MAX_SLUG_LENGTH]
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug) or shadows(slug):
        slug = f"{slug}_service"[:MAX_SLUG_LENGTH]
    return slug


def shadows(slug: str) -> bool:
    return slug in sys.stdlib_module_names or slug in RESERVED_NAMES


def check_slug(slug: str) -> list[str]:
    hint = "use lowercase ASCII letters, digits and _, starting with a letter"
    if not slug:
        return [f"project_slug is empty: {hint}."]
    identifier = slug.isascii() and slug.isidentifier() and not slug.startswith("_")
    if not identifier or slug != slug.lower():
        return [
            f"project_slug {slug!r} is not a valid Python package name: {hint}, "
            f"e.g. {suggest_slug(slug)}."
        ]
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        return [
            f"project_slug {slug!r} is a Python keyword: choose another name, "
            f"e.g. {suggest_slug(slug)}."
        ]
    if shadows(slug):
        return [
            f"project_slug {slug!r} would shadow the module {slug!r} that the project "
            f"imports: choose another name, e.g. {suggest_slug(slug)}."
        ]
    if len(slug) > MAX_SLUG_LENGTH:
        return [
            f"project_slug is {len(slug)} characters long: use at most {MAX_SLUG_LENGTH}, "
            f"e.g. {suggest_slug(slug)}."
        ]
    return []


def check_email(email: str) -> list[str]:
    if EMAIL.fullmatch(email):
        return []
    return [f"email {email!r} does not look like an email address: use name@example.com."]


def check_version(version: str) -> list[str]:
    if VERSION.fullmatch(version):
        return []
    return [f"version {version!r} is not a PEP 440 version: use e.g. 0.1.0."]


def check_timezone(name: str) -> list[str]:
    if name == "UTC" or not zoneinfo.available_timezones():
        return []  # without a time zone database here, leave the check to Django
    if name in zoneinfo.available_timezones():
        return []
    return [f"timezone {name!r} is not an IANA time zone: use e.g. UTC or Europe/Paris."]


def check_text(field: str, value: str, *, required: bool) -> list[str]:
    if required and not value.strip():
        return [f"{field} is empty: give it a value."]
    if CONTROL_CHARACTERS.search(value):
        return [f"{field} contains a control character (newline, tab, ...): remove it."]
    return []


def problems(context: dict) -> list[str]:
    """Every problem with the answers, in prompt order."""
    return [
        *check_text("project_name", context["project_name"], required=True),
        *check_slug(context["project_slug"]),
        *check_text("description", context["description"], required=False),
        *check_text("author_name", context["author_name"], required=True),
        *check_email(context["email"]),
        *check_version(context["version"]),
        *check_timezone(context["timezone"]),
    ]


def main(context: dict) -> int:
    found = problems(context)
    if not found:
        return 0
    print("ERROR: cannot generate the project:", file=sys.stderr)
    for problem in found:
        print(f"  - {problem}", file=sys.stderr)
    print("Nothing was generated. Fix the answers and run cookiecutter again.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(CONTEXT))
