"""A baked project's Docker files read as what they run, so that the compose stack runs
here without Docker: the image's build step (collectstatic) and environment, then the web
service's environment and command, with the services' host names pointed at this
machine's Redis and PostgreSQL and the published port at a free one.
"""

import re
import shlex
from pathlib import Path

import yaml

from harness import HarnessError
from harness.commands import run
from harness.servers import AsgiServer, free_port
from harness.services import REDIS_URL, create_postgres_database

# Where compose publishes the web service: `ports: ["8000:8000"]`.
PUBLISHED = re.compile(r"^(\d+):(\d+)$")


def included_compose_files(project: Path) -> list[Path]:
    """The files compose.yaml includes, in merge order (one include, merged paths)."""
    [include] = yaml.safe_load((project / "compose.yaml").read_text())["include"]
    if include["project_directory"] != ".":
        raise HarnessError(f"compose.yaml includes from {include['project_directory']}")
    return [project / path for path in include["path"]]


def merged_compose_services(project: Path) -> dict[str, dict]:
    """Services of the included files, merged as compose merges them (mappings by key,
    sequences appended), enough for what the tests ask.
    """
    services: dict[str, dict] = {}
    for path in included_compose_files(project):
        for name, service in yaml.safe_load(path.read_text())["services"].items():
            merged = services.setdefault(name, {})
            for key, value in service.items():
                if isinstance(value, dict):
                    merged[key] = {**merged.get(key, {}), **value}
                elif isinstance(value, list):
                    merged[key] = [*merged.get(key, []), *value]
                else:
                    merged[key] = value
    return services


def dotenv(project: Path) -> dict[str, str]:
    """What compose reads from `.env` for `${...}` in the compose files."""
    pairs = (line.split("=", 1) for line in (project / ".env").read_text().splitlines())
    return {key.strip(): value.strip() for key, value in (p for p in pairs if len(p) == 2)}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}`."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match["name"], match["operator"], match["rest"] or ""
        if variables.get(name):
            return variables[name]
        if operator == ":?":
            raise HarnessError(f"compose would stop: {rest}")
        return rest if operator == ":-" else ""

    return re.sub(r"\$\{(?P<name>\w+)(?:(?P<operator>:[-?])(?P<rest>[^}]*))?\}", one, value)


def image_env(project: Path) -> dict[str, str]:
    """The final stage's ENV of the Dockerfile (PATH left to the caller)."""
    final_stage = (project / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for block in re.findall(r"^ENV (.*?)(?<!\\)$", final_stage, re.M | re.S):
        for pair in shlex.split(block.replace("\\\n", " ")):
            key, value = pair.split("=", 1)
            env[key] = value
    env.pop("PATH", None)
    return env


def build_static_files(project: Path, python: Path) -> None:
    """The Dockerfile's collectstatic step, as it is written, with this environment's Python."""
    dockerfile = (project / "Dockerfile").read_text().replace("\\\n", " ")
    (step,) = [line for line in dockerfile.splitlines() if "collectstatic" in line]
    words = shlex.split(step.removeprefix("RUN "))
    env = dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))
    command = [word for word in words if not re.match(r"^[A-Z_]+=", word)]
    if command[0] != "/venv/bin/python":
        raise HarnessError(f"the collectstatic step runs {command[0]}, not the image's Python")
    run([str(python), *command[1:]], cwd=project, env=env)


def web_without_docker(
    project: Path, python: Path, workdir: Path, database_name: str
) -> tuple[str, dict[str, str], int]:
    """The web service's command, environment and published port, to run here."""
    web = merged_compose_services(project)["web"]
    [published] = web["ports"]
    host_port, container_port = PUBLISHED.fullmatch(published).groups()
    if host_port != container_port:
        raise HarnessError(f"compose publishes {published}: the test expects one port")
    port = free_port()
    variables = dotenv(project)
    env = image_env(project)
    for key, value in web.get("environment", {}).items():
        env[key] = interpolate(str(value), variables).replace(f":{host_port}", f":{port}")
    # The other services' host names, here.
    if "DATABASE_URL" in env:
        url = env["DATABASE_URL"]
        if url.startswith("sqlite:////data/"):
            env["DATABASE_URL"] = f"sqlite:///{workdir / url.removeprefix('sqlite:////data/')}"
        elif "@postgres:5432/" in url:
            env["DATABASE_URL"] = create_postgres_database(python, database_name)
        else:
            raise HarnessError(f"a DATABASE_URL this harness cannot place: {url}")
    if "REDIS_URL" in env:
        if not env["REDIS_URL"].startswith("redis://redis:6379/"):
            raise HarnessError(f"a REDIS_URL this harness cannot place: {env['REDIS_URL']}")
        env["REDIS_URL"] = REDIS_URL
    command = web["command"].replace(f"--port {container_port}", f"--port {port}")
    command = command.replace("--host 0.0.0.0", "--host 127.0.0.1")
    env["PATH"] = f"{python.parent}:/usr/bin:/bin"  # the image's: its venv first
    return command, env, port


class ComposeWeb(AsgiServer):
    """The compose stack's web service, run here: `sh -c` its command, in its environment."""

    name = "compose web"

    def __init__(self, project: Path, python: Path, log: Path, workdir: Path, db: str) -> None:
        self.shell_command, env, port = web_without_docker(project, python, workdir, db)
        super().__init__(python, project, env, log, port=port)

    def command(self) -> list[str]:
        if not self.shell_command.startswith("sh -c "):
            raise HarnessError(f"compose's command is not `sh -c ...`: {self.shell_command}")
        return shlex.split(self.shell_command)
