"""`stockade admission serve` and `manifest`: the installed command, real HTTPS, exit codes."""

from __future__ import annotations

import base64
import json
import signal
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from tests.admission.webhook.support import body, pod, review
from tests.cli.support import STOCKADE

from stockade.cli.main import main


def test_manifest_with_a_generated_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certs = tmp_path / "certs"
    code = main(
        [
            "admission",
            "manifest",
            "--generate-cert",
            str(certs),
            "-f",
            "json",
            "--timeout",
            "4",
            "--fail-open",
        ]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    (hook,) = document["webhooks"]
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == (certs / "ca.crt").read_bytes()
    assert hook["failurePolicy"] == "Ignore"
    assert hook["timeoutSeconds"] == 6


def test_manifest_yaml_to_a_file(tmp_path: Path) -> None:
    import yaml

    certs = tmp_path / "certs"
    out = tmp_path / "webhook.yaml"
    assert main(["admission", "manifest", "--generate-cert", str(certs), "-o", str(out)]) == 0
    document = yaml.safe_load(out.read_text())
    assert document["kind"] == "ValidatingWebhookConfiguration"
    assert document["webhooks"][0]["failurePolicy"] == "Fail"


def test_manifest_needs_a_ca(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admission", "manifest"]) == 2
    assert "--ca-bundle" in capsys.readouterr().err


def test_serve_refuses_a_bad_policy_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "policy.yaml"
    config.write_text("default: {deny: {pss: strict}}\n")
    code = main(
        ["admission", "serve", "--config", str(config), "--generate-cert", str(tmp_path / "c")]
    )
    assert code == 2
    assert "pss is 'strict'" in capsys.readouterr().err


def test_serve_inventory_needs_a_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    code = main(
        ["admission", "serve", "--inventory", str(inventory), "--generate-cert", str(tmp_path)]
    )
    assert code == 2
    assert "--inventory is data for Gatekeeper policies" in capsys.readouterr().err


def test_serve_needs_tls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admission", "serve"]) == 2
    assert "TLS certificate" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_answers_reviews_and_logs_decisions(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    with subprocess.Popen(
        [
            str(STOCKADE),
            "admission",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--generate-cert",
            str(certs),
            "--extra-name",
            "127.0.0.1",
            "--timeout",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        _exercise(process, certs)
    assert process.returncode == 130


def _exercise(process: subprocess.Popen[str], certs: Path) -> None:
    try:
        assert process.stderr is not None
        assert process.stdout is not None
        url = None
        for _ in range(20):
            line = process.stderr.readline()
            if "serving https://" in line:
                url = line.split("serving ", 1)[1].split(" ", 1)[0].removesuffix("/validate")
                break
        assert url, "the server did not say where it listens"
        context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        with httpx.Client(verify=context, timeout=10) as client:
            assert client.get(url + "/readyz").status_code == 200
            document = review(pod(privileged=True))
            answer = client.post(
                url + "/validate",
                content=body(document),
                headers={"content-type": "application/json"},
            ).json()
        assert answer["response"]["allowed"] is False
        assert "STK-K8S-001" in answer["response"]["status"]["message"]
        logged = json.loads(process.stdout.readline())
        assert logged["uid"] == document["request"]["uid"]
        assert logged["decision"] == "denied"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
