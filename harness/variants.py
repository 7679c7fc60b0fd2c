"""The six feature options, the 64 variants they make, and the end-to-end variants."""

import itertools
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent.parent

Answers = dict[str, Any]

# The six feature options and their values, defaults first: every combination is a variant.
FEATURES: dict[str, list[object]] = {
    "use_redis": [True, False],
    "use_auth": [True, False],
    "include_sample_consumer": [True, False],
    "database": ["sqlite", "postgresql"],
    "use_docker": [True, False],
    "ci": ["github", "none"],
}
DEFAULTS: Answers = {option: values[0] for option, values in FEATURES.items()}
VARIANTS: list[Answers] = [
    dict(zip(FEATURES, values, strict=True)) for values in itertools.product(*FEATURES.values())
]


def variant(**overrides: object) -> Answers:
    """The variant with these options changed from the defaults."""
    unknown = set(overrides) - set(FEATURES)
    if unknown:
        raise ValueError(f"not feature options: {sorted(unknown)}")
    return {**DEFAULTS, **overrides}


def python_twin(answers: Answers) -> Answers:
    """The variant with Docker and GitHub CI among those differing from `answers` only in
    `use_docker` and `ci`: options that change no file the project's Python reads
    (tests/test_variants.py holds them to it), so one stands for all four.
    """
    return {**answers, "use_docker": True, "ci": "github"}


def variant_id(answers: Answers) -> str:
    """A readable id such as redis-auth-chat-sqlite-docker-github."""
    return "-".join(
        [
            "redis" if answers["use_redis"] else "memory",
            "auth" if answers["use_auth"] else "noauth",
            "chat" if answers["include_sample_consumer"] else "nochat",
            "pg" if answers["database"] == "postgresql" else "sqlite",
            "docker" if answers["use_docker"] else "nodocker",
            "github" if answers["ci"] == "github" else "noci",
        ]
    )


# The variants proven under real servers, by name: defaults, everything off, in-memory
# layer with auth, Redis without auth, PostgreSQL.
E2E_VARIANTS: dict[str, Answers] = {
    "defaults": variant(),
    "everything-off": variant(
        use_redis=False, use_auth=False, include_sample_consumer=False, use_docker=False, ci="none"
    ),
    "memory-auth": variant(use_redis=False),
    "redis-noauth": variant(use_auth=False),
    "postgresql": variant(database="postgresql"),
}
# The server each runs under: the production command (uvicorn) for most, daphne (the
# development server, still a production option) for two, so every end-to-end check runs
# against both. Names of `harness.servers` classes.
E2E_SERVERS: dict[str, str] = {
    "defaults": "uvicorn",
    "everything-off": "uvicorn",
    "memory-auth": "daphne",
    "redis-noauth": "daphne",
    "postgresql": "uvicorn",
}
CHAT_VARIANTS = [name for name, a in E2E_VARIANTS.items() if a["include_sample_consumer"]]
AUTH_VARIANTS = [name for name in CHAT_VARIANTS if E2E_VARIANTS[name]["use_auth"]]
# Scale-out and the browser are slow: proven on the default project and on Redis without auth.
SCALE_VARIANTS = ["defaults", "redis-noauth"]
# The production topology (TLS proxy, two app hosts, rolling restarts): the default
# project on SQLite and on PostgreSQL.
TOPOLOGY_VARIANTS = ["defaults", "postgresql"]
