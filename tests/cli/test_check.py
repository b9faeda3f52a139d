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


def test_a_directory_target_is_detected_and_every_kind_in_it_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s/deploy.yaml").write_text(PRIVILEGED)
    (tmp_path / "Dockerfile").write_text("FROM alpine:latest\nRUN apk add curl\n")
    (tmp_path / "taskdef.json").write_bytes((SERVERLESS / "taskdef-insecure.json").read_bytes())
    (tmp_path / "package.json").write_text('{"name": "web", "version": "1.0.0"}')
    (tmp_path / "node_modules/x").mkdir(parents=True)
    (tmp_path / "node_modules/x/pod.yaml").write_text(PRIVILEGED)
    assert main(["check", str(tmp_path), "-f", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    targets = {r["check"]["target"] for r in document["results"]}
    assert targets == {"kubernetes", "dockerfile", "serverless"}
    files = {Path(r["file"]).name for r in document["results"]}
    assert "pod.yaml" not in files  # node_modules is not entered
    assert "package.json" not in files


def test_options_may_come_before_an_auto_detected_target(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--fail-on", "critical", "-f", "json", str(manifest)]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["summary"]["failed"] > 0


def test_an_image_target_is_detected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = docker_archive(
        tmp_path / "image.tar",
        [{"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"}],
        config=ImageConfig(env=["PATH=/usr/bin"]),
    )
    assert main(["check", str(image), "-f", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {r["check"]["target"] for r in document["results"]} == {"image"}


def test_nothing_to_check_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "README.md").write_text("hello\n")
    assert main(["check", str(tmp_path)]) == 2
    assert "nothing to check" in capsys.readouterr().err


def test_sarif_output_points_at_file_and_line(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(manifest), "-f", "sarif"]) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    located = [
        r["locations"][0]["physicalLocation"]
        for r in run["results"]
        if r["properties"]["path"].endswith("privileged")
    ]
    assert located
    assert located[0]["region"]["startLine"] == 13
    assert located[0]["artifactLocation"]["uri"].endswith("deploy.yaml")


def test_annotation_and_ignore_file_suppressions_open_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(PRIVILEGED)
    gate = ["-f", "json", "--fail-on", "high"]
    assert main(["check", str(manifest), *gate]) == 1
    high = {
        r["check"]["id"]
        for r in json.loads(capsys.readouterr().out)["results"]
        if r["status"] == "failed" and r["check"]["severity"] in ("high", "critical")
    }
    # Half the failing checks by annotation, the rest in the ignore file.
    ordered = sorted(high)
    by_annotation, by_file = ordered[: len(ordered) // 2], ordered[len(ordered) // 2 :]
    manifest.write_text(
        PRIVILEGED.replace(
            "  namespace: shop\n",
            "  namespace: shop\n  annotations:\n"
            f'    stockade.io/skip: "{",".join(by_annotation)}"\n',
        )
    )
    ignore = tmp_path / ".stockadeignore.yaml"
    ignore.write_text(
        "".join(
            f"- id: {check_id}\n  resource: Deployment/shop/*\n  reason: reviewed in SEC-7\n"
            for check_id in by_file
        )
    )
    monkeypatch.chdir(tmp_path)  # the ignore file is found in the working directory
    assert main(["check", "deploy.yaml", *gate]) == 0
    document = json.loads(capsys.readouterr().out)
    suppressed = {
        r["check"]["id"]: r["suppression"] for r in document["results"] if r["suppression"]
    }
    assert set(suppressed) >= high
    assert {s["inSource"] for s in suppressed.values()} == {True, False}


def test_check_looks_for_the_same_ignore_file_as_scan() -> None:
    from stockade.cli import check
    from stockade.policy.ignore import IGNORE_FILE_NAME

    assert check._IGNORE_FILE == IGNORE_FILE_NAME


def test_trusted_registries_gate_an_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = docker_archive(
        tmp_path / "image.tar",
        [{"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"}],
        config=ImageConfig(env=["PATH=/usr/bin"]),
    )  # tagged example.com/app:1.0
    args = ["check", str(image), "-f", "json", "--fail-on", "high"]
    assert main([*args, "--trusted-registry", "registry.corp.example"]) == 1
    assert "not from a trusted registry" in capsys.readouterr().out
    assert main([*args, "--trusted-registry", "example.com"]) in (0, 1)
    document = json.loads(capsys.readouterr().out)
    (provenance,) = [r for r in document["results"] if r["check"]["id"] == "STK-IMG-009"]
    assert provenance["status"] == "passed"


GATEKEEPER = (
    Path(__file__).resolve().parent.parent
    / "data/admission/gatekeeper-library/library/general/allowedrepos"
)


def test_gatekeeper_constraints_join_the_checks_and_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "template.yaml").write_bytes((GATEKEEPER / "template.yaml").read_bytes())
    constraint = GATEKEEPER / "samples/repo-must-be-openpolicyagent/constraint.yaml"
    (policy / "constraint.yaml").write_bytes(constraint.read_bytes())
    pods = tmp_path / "pods"
    pods.mkdir()
    pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\n{extra}"
    spec = "spec:\n  containers:\n    - name: app\n      image: {image}\n"
    (pods / "bad.yaml").write_text(
        pod.format(name="bad", extra="") + spec.format(image="nginx:1.27")
    )
    (pods / "good.yaml").write_text(
        pod.format(name="good", extra="") + spec.format(image="openpolicyagent/opa:1.0")
    )
    args = ["check", "k8s", str(pods), "--policy", str(policy), "-f", "json"]
    assert main([*args, "--fail-on", "high"]) == 1
    document = json.loads(capsys.readouterr().out)
    (violation,) = [
        r for r in document["results"] if r["check"]["id"].startswith("K8sAllowedRepos/")
    ]
    assert violation["resource"] == "Pod/default/bad"
    assert violation["check"]["severity"] == "high"
    assert "nginx:1.27" in violation["message"]
    # The annotation suppresses a constraint by its kind, like any check.
    (pods / "bad.yaml").write_text(
        pod.format(
            name="bad", extra="  annotations:\n    stockade.io/skip: K8sAllowedRepos=vendor\n"
        )
        + spec.format(image="nginx:1.27")
    )
    assert main([*args]) == 0
    document = json.loads(capsys.readouterr().out)
    (suppressed,) = [
        r for r in document["results"] if r["check"]["id"].startswith("K8sAllowedRepos/")
    ]
    assert suppressed["status"] == "skipped"


def test_the_thorough_profile_finds_what_the_default_rules_do_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.ini").write_text("[db]\npassword = hunter2-" + "42x\n")
    assert main(["check", "secrets", str(tmp_path), "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["secrets"] == []
    assert main(["check", "secrets", str(tmp_path), "--profile", "thorough", "-f", "json"]) == 0
    (found,) = json.loads(capsys.readouterr().out)["secrets"]
    assert found["line"] == 2
    assert "hunter2" not in found["redacted"]
    assert main(["check", "secrets", str(tmp_path), "--profile", "thorough", "--config",
                 str(tmp_path / "app.ini")]) == 2  # fmt: skip
