"""The opt-in "thorough" rule profile: detect-secrets-like recall without its noise.

Two halves. Realistic files that hold no secret (lock files, checksums, settings that
read the environment, manifests with placeholders, changelogs full of commit ids) must
give no finding at all; secrets in the shapes people really write them must be found,
each by the rule meant for it. The agreement with detect-secrets' own test files is in
test_secrets_corpus.py.

Digests and "secrets" here are computed (hashlib, base64) or assembled from pieces, so
this file holds no literal that a secret scanner, ours included, would report.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from stockade.artifact.rootfs import DirectorySource
from stockade.compliance.secrets import (
    BUILTIN_PROFILES,
    Detector,
    RuleError,
    ScanOptions,
    builtin_rules,
    builtin_rules_path,
    default_rules,
    scan_source,
)
from stockade.compliance.secrets.engine import re2_available

ENGINES = [
    "python",
    pytest.param(
        "re2", marks=pytest.mark.skipif(not re2_available(), reason="google-re2 not installed")
    ),
]
THOROUGH_RULES = {
    "stockade-keyword-secret",
    "stockade-keyword-secret-config",
    "stockade-generic-high-entropy-base64",
    "stockade-generic-high-entropy-hex",
    "stockade-generic-aws-access-key-id",
}


def sha(kind: str, seed: str) -> str:
    return hashlib.new(kind, seed.encode()).hexdigest()


def b64(kind: str, seed: str) -> str:
    return base64.b64encode(hashlib.new(kind, seed.encode()).digest()).decode()


def scan(files: dict[str, str], root: Path, engine: str) -> dict[str, dict[int, set[str]]]:
    """file -> line -> rule ids, from the thorough profile over ``files`` written below root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    result = scan_source(
        DirectorySource(root), builtin_rules("thorough"), options=ScanOptions(engine=engine)
    )
    found: dict[str, dict[int, set[str]]] = {}
    for f in result.findings:
        found.setdefault(f.file, {}).setdefault(f.line, set()).add(f.rule_id)
    return found


# --- the profile itself ------------------------------------------------------------------------


def test_profiles_are_named_and_thorough_extends_the_defaults():
    assert BUILTIN_PROFILES == ("default", "thorough")
    assert builtin_rules("default") is default_rules()
    thorough = builtin_rules("thorough")
    assert builtin_rules("thorough") is thorough  # loaded once
    assert thorough.warnings == ()
    assert thorough.source == "thorough"
    assert builtin_rules_path("thorough").name == "thorough.toml"
    ids = {rule.id for rule in thorough.rules}
    assert ids == {rule.id for rule in default_rules().rules} | THOROUGH_RULES
    for rule_id in THOROUGH_RULES:
        rule = thorough.rule(rule_id)
        assert rule is not None
        assert rule.description
        assert "thorough" in rule.tags
    # every default rule is kept as gitleaks wrote it: the profile only adds
    for rule in default_rules().rules:
        assert thorough.rule(rule.id) == rule


def test_unknown_profile_is_a_rule_error_naming_the_choices():
    with pytest.raises(RuleError, match="unknown built-in rule profile 'paranoid'") as info:
        builtin_rules("paranoid")
    assert "default, thorough" in (info.value.hint or "")


@pytest.mark.parametrize("engine", ENGINES)
def test_every_thorough_rule_compiles(engine: str):
    assert Detector(builtin_rules("thorough"), engine).engine.name == engine


# --- no noise on realistic files without secrets -----------------------------------------------

REPO_COMMIT = sha("sha1", "release 1.4.0")
PINNED_ACTION = sha("sha1", "actions/checkout v4")
CHART_CHECKSUM = sha("sha256", "configmap")
IMAGE_DIGEST = sha("sha256", "image")
EMPTY_SHA256 = sha("sha256", "")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + hashlib.sha256(b"icon").digest()).decode()

CLEAN: dict[str, str] = {
    "app/package-lock.json": f"""{{
  "name": "web",
  "lockfileVersion": 3,
  "packages": {{
    "node_modules/left-pad": {{
      "version": "1.3.0",
      "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",
      "integrity": "sha512-{b64("sha512", "left-pad")}"
    }}
  }}
}}
""",
    "app/package.json": """{
  "name": "web",
  "version": "2.1.0",
  "scripts": {"build": "vite build", "test": "vitest run"},
  "dependencies": {"left-pad": "^1.3.0"}
}
""",
    "app/yarn.lock": f"""left-pad@^1.3.0:
  version "1.3.0"
  resolved "https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz#{sha("sha1", "lp")}"
  integrity sha512-{b64("sha512", "left-pad")}
""",
    "svc/go.sum": f"""github.com/google/uuid v1.6.0 h1:{b64("sha256", "uuid")}
github.com/google/uuid v1.6.0/go.mod h1:{b64("sha256", "uuid mod")}
""",
    "rs/Cargo.lock": f"""[[package]]
name = "serde"
version = "1.0.197"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "{sha("sha256", "serde")}"
""",
    "rb/Gemfile.lock": f"""GEM
  remote: https://rubygems.org/
  specs:
    rack (3.0.9)
CHECKSUMS
  rack (3.0.9) sha256={sha("sha256", "rack")}
""",
    "php/composer.lock": f"""{{
    "content-hash": "{sha("md5", "composer")}",
    "packages": [{{"name": "monolog/monolog", "dist": {{"shasum": "{sha("sha1", "mono")}"}}}}]
}}
""",
    "py/requirements.txt": f"""django==5.0.3 \\
    --hash=sha256:{sha("sha256", "django")}
""",
    "py/settings.py": f'''import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = os.environ.get("DEBUG", "false") == "true"
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.getenv("DB_NAME", "app"),
        "USER": os.getenv("DB_USER", "app"),
        "PASSWORD": os.getenv("DB_PASSWORD", ""),
        "HOST": "db",
        "PORT": "5432",
    }}
}}
AUTH_PASSWORD_VALIDATORS = [
    {{"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"}},
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
PASSWORD_RESET_TIMEOUT = 259200
API_TOKEN = os.environ.get("API_TOKEN")
TOKEN_URL = "https://auth.example.org/oauth/token"
password_field = "password"
EMPTY_SHA256 = "{EMPTY_SHA256}"
RELEASE = "{REPO_COMMIT}"
STATIC_URL = "/static/"
''',
    "py/tokenizer.py": """from transformers import AutoTokenizer

tokenizer = "bert-base-uncased"
passenger_count = 4
password = get_password(prompt="Password: ")
def login(user, password=None):
    return check(user, password)
""",
    "deploy/deployment.yaml": f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  uid: 203db13e-70c7-462b-9a3d-bf32640cb0be
  annotations:
    checksum/config: {CHART_CHECKSUM}
spec:
  template:
    spec:
      containers:
        - name: api
          image: registry.example.org/api:${{IMAGE_TAG}}
        - name: proxy
          image: registry.example.org/proxy@sha256:{IMAGE_DIGEST}
          env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: db-credentials
                  key: password
            - name: API_TOKEN
              value: $(API_TOKEN_FROM_SECRET)
      volumes:
        - name: tls
          secret:
            secretName: api-tls
""",
    "deploy/values.yaml": """auth:
  existingSecret: ""
  password: ""
  passwordLength: 24
  tokenTTL: 3600h
  secretName: api-auth
  adminPassword: "{{ .Values.global.adminPassword }}"
  token: required
db:
  password: !vault |
    $ANSIBLE_VAULT;1.1;AES256
""",
    "compose.yaml": """services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets:
      - db_password
secrets:
  db_password:
    file: ./db_password.txt
""",
    ".github/workflows/ci.yml": f"""on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@{PINNED_ACTION}  # v4
      - run: npm publish
        env:
          NODE_AUTH_TOKEN: ${{{{ secrets.NPM_TOKEN }}}}
          GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}
""",
    ".env.example": """DB_PASSWORD=changeme
API_KEY=<your-api-key>
SECRET_KEY=
SESSION_SECRET=${SESSION_SECRET}
""",
    "java/application.properties": """spring.datasource.url=jdbc:postgresql://db:5432/app
spring.datasource.password=${DB_PASSWORD}
app.jwt.secret=${JWT_SECRET:}
server.ssl.key-store-password=file:/run/secrets/keystore-pass
""",
    "etc/app.ini": """[database]
password_file = /etc/app/db.pass
password_min_length = 12
token_expiry = 3600
secret_name = prod/db
""",
    "Dockerfile": f"""FROM python:3.12-slim
ARG VERSION=1.4.0
ENV GOSU_SHA256={sha("sha256", "gosu")}
ENV PIP_NO_CACHE_DIR=1
RUN echo "{sha("sha256", "tool")}  tool.tar.gz" | sha256sum -c -
""",
    "CHANGELOG.md": f"""# Changelog

## 1.4.0

- Rotate session tokens on login ([{REPO_COMMIT[:7]}](https://github.com/o/r/commit/{REPO_COMMIT}))
- Fix the password reset form (`{REPO_COMMIT[:10]}`)
- Revert commit {REPO_COMMIT}

**Full Changelog**: https://github.com/o/r/compare/v1.3.0...v1.4.0
""",
    "web/index.html": f"""<script src="/app.js?v={REPO_COMMIT[:12]}"
  integrity="sha384-{b64("sha384", "app.js")}" crossorigin="anonymous"></script>
<input type="password" name="password" autocomplete="current-password">
""",
    "web/app.min.js": f'var k="{b64("sha256", "minified")}",t="{sha("md5", "min")}";\n',
    "web/app.js.map": f'{{"version":3,"mappings":"{b64("sha512", "map")}"}}\n',
    "api/openapi.yaml": """components:
  securitySchemes:
    api_key:
      type: apiKey
      name: X-API-Key
      in: header
  schemas:
    Login:
      properties:
        password: {type: string, format: password}
        token:
          type: string
""",
    "api/fixtures/user.json": f"""{{
  "id": "{sha("md5", "user")[:24]}",
  "user_id": "{sha("sha1", "user")[:24]}",
  "etag": "{sha("md5", "etag")}",
  "created": "2024-03-01T12:00:00Z"
}}
""",
    "src/alphabet.py": f"""B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ICON = "{PNG}"
EXAMPLE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
""",
    "SHA256SUMS": f"{sha('sha256', 'a')}  stockade-1.4.0.tar.gz\n",
}


@pytest.mark.parametrize("engine", ENGINES)
def test_no_finding_on_realistic_files_without_secrets(tmp_path: Path, engine: str):
    assert scan(CLEAN, tmp_path, engine) == {}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_detect_secrets_baseline_gets_nothing_new(tmp_path: Path, engine: str):
    """Its SHA-1 digests stay the default generic rule's finding (docs/secrets.md)."""
    baseline = f"""{{
  "results": {{"config.py": [{{"hashed_secret": "{sha("sha1", "x")}", "line_number": 3}}]}}
}}
"""
    files = {".secrets.baseline": baseline, "other/baseline.json": baseline}
    assert scan(files, tmp_path, engine) == {
        ".secrets.baseline": {2: {"generic-api-key"}},
        "other/baseline.json": {2: {"generic-api-key"}},
    }


# --- secrets as people write them ---------------------------------------------------------------

# Assembled so that this file holds none of them as one literal.
WEAK = "Tr0ub" + "4dor&3x"
HEX_TOKEN = sha("sha256", "service token")[:40]
B64_TOKEN = b64("sha256", "webhook signing key").rstrip("=")
KEY_ID = "AKIA" + "TESTTESTTESTTEST"
REAL_KEY_ID = "AKIA" + base64.b32encode(hashlib.sha256(b"k").digest()).decode()[:16]

SECRETS: dict[str, str] = {
    "app/config.py": f"""DB_PASSWORD = "{WEAK}"
client_secret = '{"hunter" + "2hunter2"}'
WEBHOOK = "{B64_TOKEN}"
""",
    ".env": f"""DB_PASS={WEAK}
SENTRY_AUTH_TOKEN={HEX_TOKEN}
AWS_ACCESS_KEY_ID={KEY_ID}
""",
    "deploy/values.yaml": f"""redis:
  password: {"s3cr3t" + "-redis"}
aws:
  keyId: {REAL_KEY_ID}
checksum: sha256
signing: {B64_TOKEN}
""",
    "src/client.ts": f"""const apiKey: string = "{"k-" + HEX_TOKEN[:20]}";
const client = new Client({{ token: "{"t0k" + "en-value-9"}" }});
""",
    "etc/service.conf": f"""[upstream]
secret_key = {HEX_TOKEN[:16]}
""",
    "notes.md": f"""The staging key is `{"deadbeef" + HEX_TOKEN[:8]}` (rotate it) and the token
is "{HEX_TOKEN[:24]}".
""",
}

EXPECTED_SECRETS: dict[str, dict[int, set[str]]] = {
    "app/config.py": {
        1: {"stockade-keyword-secret"},
        2: {"stockade-keyword-secret"},
        3: {"stockade-generic-high-entropy-base64"},
    },
    ".env": {
        1: {"stockade-keyword-secret-config"},
        2: {"stockade-keyword-secret-config"},
        3: {"stockade-generic-aws-access-key-id"},
    },
    "deploy/values.yaml": {
        2: {"stockade-keyword-secret-config"},
        4: {"aws-access-token"},
        6: {"stockade-generic-high-entropy-base64"},
    },
    "src/client.ts": {
        1: {"stockade-keyword-secret"},
        2: {"stockade-keyword-secret"},
    },
    "etc/service.conf": {2: {"stockade-keyword-secret-config"}},
    "notes.md": {2: {"stockade-generic-high-entropy-hex"}},
}


@pytest.mark.parametrize("engine", ENGINES)
def test_secrets_as_people_write_them_are_found(tmp_path: Path, engine: str):
    assert scan(SECRETS, tmp_path, engine) == EXPECTED_SECRETS


@pytest.mark.parametrize("engine", ENGINES)
def test_default_rules_miss_most_of_them(tmp_path: Path, engine: str):
    """Why the profile exists: gitleaks' rules want a provider's format or more entropy."""
    for name, text in SECRETS.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    result = scan_source(DirectorySource(tmp_path), options=ScanOptions(engine=engine))
    found = {(f.file, f.line) for f in result.findings}
    assert found == {(".env", 2), ("deploy/values.yaml", 4)}


@pytest.mark.parametrize("engine", ENGINES)
def test_inline_markers_and_placeholders_silence_the_new_rules(engine: str):
    detector = Detector(builtin_rules("thorough"), engine)
    lines = [
        f'password = "{WEAK}"  # pragma: allowlist secret',
        f'password = "{WEAK}"  # gitleaks:allow',
        'password = "${DB_PASSWORD}"',
        'password = "%(db_password)s"',
        'password = "<password>"',
        'api_key = "YOUR_API_KEY"',
        'token = "changeme"',
        'password = "null"',
        'user_id = "' + HEX_TOKEN + '"',
    ]
    for line in lines:
        assert detector.detect(line + "\n", "app/x.py") == [], line
