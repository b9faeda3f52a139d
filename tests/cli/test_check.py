"""`stockade check k8s`: real manifests, the report, and the gate's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.artifact.imagebuilder import ImageConfig, docker_archive

from stockade.cli.main import main

PRIVILEGED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: app
          image: nginx:latest
          securityContext:
            privileged: true
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_text(PRIVILEGED)
    return path


def test_a_privileged_container_is_reported_with_its_path_and_line(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "k8s", str(manifest), "-f", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    failed = [r for r in document["results"] if r["status"] == "failed"]
    privileged = [r for r in failed if r["check"]["references"].get("checkov") == "CKV_K8S_16"]
    assert privileged, failed
    (finding,) = privileged
    assert finding["path"] == "spec.template.spec.containers[0].securityContext.privileged"
    assert finding["line"] == 13
    assert finding["resource"].startswith("Deployment")
    assert document["summary"]["failed"] == len(failed)


def test_the_gate_fails_on_high_findings(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "k8s", str(manifest), "-f", "json", "--fail-on", "high"]) == 1
    assert "policy failed:" in capsys.readouterr().err


def test_a_directory_is_checked_file_by_file(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "k8s", str(manifest.parent), "-f", "table"]) == 0
    out = capsys.readouterr().out
    assert "failed" in out
    assert "STK-K8S-" in out


def test_a_yaml_bomb_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = tmp_path / "bomb.yaml"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
    bomb.write_text("\n".join(lines) + "\n")
    assert main(["check", "k8s", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert "error: " in err
    assert "billion laughs" in err
    assert "Traceback" not in err


def test_no_manifests_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "k8s", str(tmp_path)]) == 2
    assert "no .yaml/.yml/.json files" in capsys.readouterr().err


DOCKERFILE = """\
FROM ubuntu:latest
MAINTAINER someone@example.com
RUN apt-get update
ADD app.tar.gz /app
EXPOSE 22
"""


def test_a_dockerfile_is_checked_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE)
    assert main(["check", "dockerfile", str(tmp_path), "-f", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    failed = {
        r["check"]["references"].get("checkov"): r["line"]
        for r in document["results"]
        if r["status"] == "failed"
    }
    assert failed["CKV_DOCKER_1"] == 5  # EXPOSE 22
    assert failed["CKV_DOCKER_6"] == 2  # MAINTAINER
    assert failed["CKV_DOCKER_7"] == 1  # FROM :latest
    assert "CKV_DOCKER_2" in failed  # no HEALTHCHECK
    assert "CKV_DOCKER_3" in failed  # no USER


def test_an_image_running_as_root_with_a_secret_in_env_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = docker_archive(
        tmp_path / "image.tar",
        [{"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"}],
        config=ImageConfig(env=["PATH=/usr/bin", "DB_PASSWORD=hunter2hunter2"]),
    )
    code = main(["check", "image", str(image), "-f", "json", "--fail-on", "high"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    failed = [r for r in document["results"] if r["status"] == "failed"]
    titles = " ".join(r["check"]["title"].lower() for r in failed)
    assert "root" in titles
    assert "hunter2hunter2" not in captured.out  # the secret is redacted
    assert any("DB_PASSWORD" in (r["message"] or "") for r in failed)
    assert code == (1 if any(r["check"]["severity"] in ("high", "critical") for r in failed) else 0)


def test_secrets_in_a_directory_are_found_redacted_and_gate_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "AKIA" + "QYLPMN5HFIQR7XYZ"  # split: no secret scanner should flag this source
    (tmp_path / "app").mkdir()
    (tmp_path / "app/settings.py").write_text(f'DEBUG = True\naws_access_key_id = "{key}"\n')
    code = main(["check", "secrets", str(tmp_path), "-f", "json", "--fail-on", "high"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    (secret,) = document["secrets"]
    assert secret["file"] == "app/settings.py"
    assert secret["line"] == 2
    assert key not in captured.out
    assert key not in captured.err
    assert code == 1


def test_a_broken_manifest_is_skipped_with_a_warning_and_the_rest_checked(
    manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    assert main(["check", "k8s", str(tmp_path), "-f", "json"]) == 0
    captured = capsys.readouterr()
    assert "broken.yaml" in captured.err
    assert any(r["status"] == "failed" for r in json.loads(captured.out)["results"])


SERVERLESS = Path(__file__).resolve().parent.parent / "data/compliance/serverless"


def test_an_insecure_task_definition_fails_and_a_hardened_one_passes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    insecure = str(SERVERLESS / "taskdef-insecure.json")
    hardened = str(SERVERLESS / "taskdef-hardened.json")
    assert main(["check", "serverless", insecure, "-f", "json", "--fail-on", "high"]) == 1
    bad = json.loads(capsys.readouterr().out)
    assert any(r["path"].endswith("privileged") for r in bad["results"] if r["status"] == "failed")
    assert main(["check", "serverless", hardened, "-f", "json", "--fail-on", "high"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["failed"] == 0


def test_host_files_are_read_under_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "etc/ssh").mkdir(parents=True)
    (tmp_path / "etc/ssh/sshd_config").write_text("PermitRootLogin yes\n")
    assert main(["check", "host", str(tmp_path), "-f", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    failed = [r for r in document["results"] if r["status"] == "failed"]
    assert any("PermitRootLogin" in (r["message"] + r["check"]["title"]) for r in failed), failed
