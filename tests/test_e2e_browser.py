"""A real browser: Debian's Chromium, driven by Playwright, on the chat page.

No browser is downloaded: Playwright drives the system Chromium (executable_path).
"""

import re
import shutil
import uuid

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from harness.commands import run
from harness.compose import ComposeWeb, build_static_files
from harness.mail import MailSink
from harness.served import PASSWORD, USERNAME
from harness.servers import Uvicorn
from harness.services import require, require_services
from harness.variants import SCALE_VARIANTS, variant

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
# With full jitter, a page whose server is back waits at most the current backoff cap
# (BACKOFF_MAX_MS = 30 s in chat.js) before its next try; allow that plus a margin.
RECONNECT_TIMEOUT_MS = 45_000


@pytest.fixture(scope="module", params=SCALE_VARIANTS)
def e2e_name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    require(executable is not None, "Chromium is not installed (Debian package: chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    """A browser context; its pages must see no Content-Security-Policy violation."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    violations: list[str] = []

    def watch(message) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    context.on("console", watch)
    yield context
    context.close()
    assert violations == []


def open_room(context, served, server, room: str, *, log_in: bool = False) -> Page:
    """Open a room's page; with `log_in`, the browser must first be sent to the login form."""
    page = context.new_page()
    page.goto(f"{server.base_url}/chat/{room}/")
    if log_in:
        assert f"/accounts/login/?next=/chat/{room}/" in page.url
        page.fill("input[name=username]", USERNAME)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/chat/{room}/")
    expect(page.locator("#chat-status")).to_have_attribute("data-state", "open")
    return page


def say(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def test_two_pages_chat_and_reconnect_after_a_server_restart(context, served, server):
    room = f"browser-{uuid.uuid4().hex[:8]}"
    first = open_room(context, served, server, room, log_in=served.auth)
    second = open_room(context, served, server, room)  # same browser: already logged in

    say(first, "hello from the first page")
    expect(second.locator("#chat-log")).to_contain_text("hello from the first page")

    server.stop()
    expect(first.locator("#chat-status")).to_have_attribute("data-state", "waiting")
    server.start()

    for page in (first, second):
        status = expect(page.locator("#chat-status"))
        status.to_have_attribute("data-state", "open", timeout=RECONNECT_TIMEOUT_MS)
    say(second, "back after the restart")
    expect(first.locator("#chat-log")).to_contain_text("back after the restart")
    assert served.tracebacks() == []


@pytest.mark.parametrize("e2e_name", ["defaults"], indirect=True, scope="module")
def test_a_page_whose_session_is_gone_is_sent_to_log_in(context, served, server):
    """The script acts on the close code and login page that chat-config hands it: a
    socket closed with 4401 (no session any more) takes the page to the login form.
    """
    room = f"browser-{uuid.uuid4().hex[:8]}"
    page = open_room(context, served, server, room, log_in=True)

    context.clear_cookies()
    server.stop()
    expect(page.locator("#chat-status")).to_have_attribute("data-state", "waiting")
    server.start()

    page.wait_for_url(
        lambda url: "/accounts/login/?next=" in url and room in url,
        timeout=RECONNECT_TIMEOUT_MS,
    )
    assert served.tracebacks() == []


def test_a_page_refused_with_4429_backs_off(context, served):
    """One socket per user allowed: a second page is closed with 4429 and waits seconds
    before each new try (it used to retry within half a second, for ever).
    """
    with served.new_server(WS_MAX_CONNECTIONS_PER_USER="1") as limited:
        room = f"browser-{uuid.uuid4().hex[:8]}"
        open_room(context, served, limited, room, log_in=served.auth)
        refusal = f"Closing websocket /ws/chat/{room}/ with 4429"

        second = context.new_page()
        second.goto(f"{limited.base_url}/chat/{room}/")
        expect(second.locator("#chat-status")).to_contain_text("Too many")
        second.wait_for_timeout(6_000)

        # First refusal at once, the next after 2.5 to 5 s, the third 5 to 10 s later.
        assert 1 <= limited.log().count(refusal) <= 2
        assert served.tracebacks() == []


@pytest.fixture(scope="module")
def compose_web(bakery, tmp_path_factory):
    """The default project's compose stack run without Docker (harness/compose.py): the
    image's collectstatic step and environment, the web service's environment and command
    (migrate, then the server), its Redis and database here, then the README's superuser.
    """
    answers = variant()
    require_services(answers)
    workdir = tmp_path_factory.mktemp("compose")
    project = bakery.copy(answers, workdir)
    build_static_files(project.path, project.python)
    log = workdir / "web.log"
    with ComposeWeb(project.path, project.python, log, workdir, "ccdc_compose") as web:
        superuser = {**web.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
        create = ["manage.py", "createsuperuser", "--noinput", "--username", USERNAME]
        run([str(project.python), *create, "--email", "a@example.com"], project.path, superuser)
        yield web
    assert "Traceback" not in web.log(), web.log()


def test_the_compose_stack_chats_in_a_browser_at_its_url(context, compose_web):
    """`docker compose up`'s web service, production settings and all, at the addresses
    compose.yaml and the README name (the port here a free one): log in, two pages chat.
    """
    assert "http://localhost:8000/" in (compose_web.cwd / "compose.yaml").read_text()
    assert "<http://127.0.0.1:8000/>" in (compose_web.cwd / "README.md").read_text()
    room = f"compose-{uuid.uuid4().hex[:8]}"
    pages = []
    for host in ("localhost", "127.0.0.1"):
        url = f"http://{host}:{compose_web.port}/chat/{room}/"
        page = context.new_page()
        page.goto(url)
        if "/accounts/login/" in page.url:
            page.fill("input[name=username]", USERNAME)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/chat/{room}/")
        expect(page.locator("#chat-status")).to_have_attribute("data-state", "open")
        pages.append(page)

    say(pages[0], "hello from compose")

    expect(pages[1].locator("#chat-log")).to_contain_text("hello from compose")


@pytest.mark.parametrize("e2e_name", ["defaults"], indirect=True, scope="module")
def test_a_forgotten_password_is_reset_from_the_login_page(context, served):
    """Production sending through EMAIL_URL to an SMTP server of the test's own: the login
    page's link, the form, the emailed link, a new password, and in with it.
    """
    username = f"forgetful-{uuid.uuid4().hex[:8]}"
    address = f"{username}@example.com"
    create = ["manage.py", "createsuperuser", "--noinput", "--username", username]
    user_env = {**served.env, "DJANGO_SUPERUSER_PASSWORD": "an-old-password-1"}
    run([str(served.python), *create, "--email", address], served.path, user_env)
    with MailSink() as sink:
        server = served.new_server(
            Uvicorn,
            DJANGO_SETTINGS_MODULE="config.settings.production",
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_SECURE_SSL_REDIRECT="false",
            EMAIL_URL=sink.url,
            DJANGO_DEFAULT_FROM_EMAIL="chat@example.com",
        )
        with server:
            page = context.new_page()
            page.goto(f"{server.base_url}/accounts/login/")
            page.click("text=Forgot your password?")
            page.fill("input[name=email]", address)
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Check your email")
            (mail,) = sink.wait_for(1)
            assert mail["To"] == address
            assert mail["From"] == "chat@example.com"
            body = mail.get_content()
            link = re.search(rf"{re.escape(server.base_url)}/accounts/reset/\S+/", body)
            assert link is not None, body

            page.goto(link[0])
            page.fill("input[name=new_password1]", "a-brand-new-passphrase-7")
            page.fill("input[name=new_password2]", "a-brand-new-passphrase-7")
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Password set")
            page.click("text=log in")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", "a-brand-new-passphrase-7")
            page.click("button[type=submit]")

            expect(page.locator("header nav")).to_contain_text(f"Signed in as {username}")
    assert served.tracebacks([server]) == []
