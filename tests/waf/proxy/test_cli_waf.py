"""``stockade waf``: options and config file, errors as exit code 2, a real served run."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest
from tests.waf.proxy.backend import Backend
from tests.waf.proxy.support import free_port, get, proxy_process, request

from stockade.cli.main import main

SQLI = "/?id=1%27%20or%20%271%27%3D%271"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no upstream to protect"),
        (["--upstream", "ftp://x"], "is not an http:// or https:// URL"),
        (["--upstream", "http://127.0.0.1:9/path"], "must be scheme://host[:port] alone"),
        (["--upstream", "http://a", "--listen", "nowhere"], "is not HOST:PORT"),
        (["--upstream", "http://a", "--inspect-limit", "lots"], "is not a size"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["waf", *args]) == 2
    assert message in capsys.readouterr().err


def test_tls_needs_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    assert main(["waf", "--upstream", "http://a", "--tls-cert", str(cert)]) == 2
    assert "--tls-cert and --tls-key together" in capsys.readouterr().err


def test_a_bad_certificate_is_refused_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("not a certificate")
    port = free_port()
    args = ["--listen", f"127.0.0.1:{port}", "--upstream", "http://127.0.0.1:9"]
    assert main(["waf", *args, "--tls-cert", str(cert), "--tls-key", str(cert)]) == 2
    assert "cannot load the TLS certificate" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("upstream: http://a\nlistne: 1.2.3.4:5\n", "unknown setting(s) listne"),
        ("upstream: http://a\nlimits: {inspect_bdy: 1}\n", "limits: unknown setting(s)"),
        ("upstream: http://a\ntimeouts: {header: -1}\n", "header: expected a number"),
        ("upstream: http://a\ncrs: {paranoia_level: 7}\n", "crs.paranoia_level"),
        ("upstream: http://a\ncrs: {mode: block}\n", "crs.mode"),
        ("upstream: http://a\nlimits: {body_limit_action: drop}\n", "body_limit_action"),
        ("upstream: http://a\ntrusted_proxies: [not-an-ip]\n", "not-an-ip"),
        ("- a list\n", "expected a mapping"),
        ("upstream: [unclosed\n", "is not valid YAML"),
    ],
)
def test_config_file_errors_name_the_setting(
    tmp_path: Path, document: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "waf.yaml"
    path.write_text(document)
    assert main(["waf", "--config", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_bad_rules_are_refused_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "mine.conf"
    rules.write_text('SecRule ARGS "@rx a" "id:1,phase:2,deny"\nSecNonsense On\n')
    assert main(["waf", "--upstream", "http://a", "--rules", str(rules)]) == 2
    assert "mine.conf:2" in capsys.readouterr().err


def test_a_port_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["waf", "--listen", f"127.0.0.1:{port}", "--upstream", "http://a"]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


@pytest.mark.slow
def test_two_workers_serve_ban_together_and_stop_on_sigterm(
    backend: Backend, tmp_path: Path
) -> None:
    port = free_port()
    audit = tmp_path / "audit.jsonl"
    rules = tmp_path / "exclusions.conf"
    # an exclusion read after CRS: a documented way to turn one rule off
    rules.write_text("SecRuleRemoveById 920350\n")
    config = tmp_path / "waf.yaml"
    config.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f"upstream: http://127.0.0.1:{backend.port}\n"
        "workers: 2\n"
        f"audit_log: {audit.name}\n"
        "crs:\n  mode: ban\n  ban_seconds: 60\n  rules: [exclusions.conf]\n"
        "timeouts: {header: 5}\n"
    )
    with proxy_process(["--config", str(config)], port=port) as process:
        assert request(port, get("/echo")).status == 200
        assert request(port, get(SQLI)).status == 403
        # new connections land on either worker; the ban holds on both
        refused = [request(port, get("/echo")).status for _ in range(12)]
        events = [json.loads(line) for line in audit.read_text().splitlines()]
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    assert refused == [403] * 12
    assert [e["action"] for e in events] == ["ban"]
    assert "920350" not in events[0]["rule_ids"]


def test_a_policy_file_drives_the_real_proxy(backend: Backend, tmp_path: Path) -> None:
    """Native protections without CRS, an exception and a rate limit, through the proxy
    process the command starts."""
    port = free_port()
    audit = tmp_path / "audit.jsonl"
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\n"
        "protections: {sqli: prevent, xss: prevent, scanner: prevent}\n"
        "crs: {mode: disabled}\n"
        "rate_limits:\n  mode: prevent\n"
        "  rules: [{name: login, path_prefix: /login, rate: 0.1, burst: 2}]\n"
        "exceptions:\n  - {protections: [xss], paths: [/comments]}\n"
    )
    args = ["--listen", f"127.0.0.1:{port}", "--upstream", f"http://127.0.0.1:{backend.port}"]
    args += ["--audit-log", str(audit)]
    with proxy_process([*args, "--policy", str(policy)], port=port) as process:
        assert request(port, get("/echo")).status == 200
        assert request(port, get(SQLI)).status == 403
        xss = "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        assert request(port, get(xss)).status == 403
        assert request(port, get("/comments" + xss[1:])).status == 200  # the exception
        assert request(port, get("/echo", "User-Agent: sqlmap/1.7")).status == 403
        logins = [request(port, get("/login")).status for _ in range(4)]
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    assert logins[:2] == [200, 200]
    assert logins[2:] == [429, 429]
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["rule_ids"], e["action"], e["status"]) for e in events] == [
        (["sqli.libinjection"], "deny", 403),
        (["xss.libinjection"], "deny", 403),
        (["xss.libinjection"], "allow", 200),  # excepted, still told
        (["scanner.user-agent"], "deny", 403),
        (["ratelimit.login"], "deny", 429),
        (["ratelimit.login"], "deny", 429),
    ]


def test_policy_and_crs_options_do_not_mix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\n")
    code = main(
        ["waf", "--upstream", "http://127.0.0.1:9", "--policy", str(policy), "--paranoia", "2"]
    )
    assert code == 2
    assert "--paranoia cannot be combined with --policy" in capsys.readouterr().err
