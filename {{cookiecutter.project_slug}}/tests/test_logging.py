"""Log lines as an operator reads them: one per event, each event once, no traceback that
anyone on the internet can cause.
"""

import logging

import pytest

from {{ cookiecutter.project_slug }}.core.logs import ClientAddress, ServerErrorsOnly

pytestmark = pytest.mark.django_db


def test_a_host_this_site_does_not_serve_is_one_warning_line(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/", HTTP_HOST="attacker.example")

    assert response.status_code == 400
    (record,) = [r for r in caplog.records if r.name.startswith("django.security")]
    assert record.name == "django.security.DisallowedHost"
    assert record.levelname == "WARNING"
    assert record.exc_info is None
    assert "\n" not in caplog.text.strip()


def test_a_page_not_found_is_left_to_the_servers_access_line(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/no-such-page/")

    assert response.status_code in (302, 404)  # 302: to the login page, where required
    assert [r for r in caplog.records if r.name == "django.request"] == []


def test_a_server_error_is_still_logged():
    filters = logging.getLogger("django.request").filters
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom", (), None)
    record.status_code = 500
    not_found = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "x", (), None)
    not_found.status_code = 404

    installed = [f for f in filters if isinstance(f, ServerErrorsOnly)]
    assert installed
    assert all(f.filter(record) for f in installed)
    assert not any(f.filter(not_found) for f in installed)


@pytest.mark.parametrize(
    ("client_addr", "logged"),
    [("203.0.113.7:0", "203.0.113.7"), ("203.0.113.7:51234", "203.0.113.7:51234")],
)
def test_uvicorn_lines_name_a_proxied_client_by_its_address(client_addr, logged):
    line = ('%s - "%s" %d', (client_addr, "GET /", 200))
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, *line, None)

    assert ClientAddress().filter(record)
    assert record.getMessage() == f'{logged} - "GET /" 200'
