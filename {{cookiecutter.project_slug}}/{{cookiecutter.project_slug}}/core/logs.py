"""Filters of the project's logging (settings.LOGGING): one line per event, each event once,
and nothing anyone on the internet can turn into a flood of tracebacks.
"""

import logging

# What uvicorn writes for a client whose address came from the proxy (port unknown).
UNKNOWN_PORT = ":0"


class AsWarningWithoutTraceback(logging.Filter):
    """A request with a Host this site does not serve is one WARNING line: anyone can send
    one, and Django logs each as an ERROR with a 15-line traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


class ServerErrorsOnly(logging.Filter):
    """django.request's records of 5xx answers only: a 4xx is in the server's access line
    already (uvicorn's, or runserver's), and Django would log it a second time.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", 500) >= 500


class ClientAddress(logging.Filter):
    """uvicorn's request and websocket lines name the client as the proxy forwarded it
    (FORWARDED_ALLOW_IPS): the address alone, not with the port 0 uvicorn gives it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args and str(args[0]).endswith(UNKNOWN_PORT):
            record.args = (str(args[0]).removesuffix(UNKNOWN_PORT), *args[1:])
        return True
