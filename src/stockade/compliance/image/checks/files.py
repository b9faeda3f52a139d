"""Checks over the squashed filesystem: setuid/setgid files, package caches, SSH."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from stockade.compliance.image.check import ImageSubject, Violation, image_check
from stockade.compliance.image.facts import FileFacts, FileKind
from stockade.core.advisory import Severity

_EXAMPLES: Final = 3


def _files(subject: ImageSubject) -> FileFacts:
    # check_image walks the layers for every check that declares needs_files.
    return subject.files or FileFacts(())


@image_check(
    "STK-IMG-004",
    "The image should hold no setuid or setgid files",
    Severity.LOW,
    rationale=(
        "A setuid or setgid binary runs with its owner's rights whoever starts it: "
        "each one is a way for a compromised process to escalate inside the container."
    ),
    remediation=(
        "Remove the bits in the Dockerfile (`RUN find / -xdev -perm /6000 -type f "
        "-exec chmod a-s {} +`) for binaries the application does not need."
    ),
    references={"cis": "4.8"},
    needs_files=True,
    needs_config=False,
)
def setid_files(subject: ImageSubject) -> Iterator[Violation]:
    for found in _files(subject).of_kind(FileKind.SETID):
        bits = [name for bit, name in ((0o4000, "setuid"), (0o2000, "setgid")) if found.mode & bit]
        yield Violation(
            f"/{found.path}",
            f"/{found.path} is {'+'.join(bits)} (mode {found.mode:04o})",
            found.layer,
        )


_CACHES: Final = (
    (FileKind.APT_ARCHIVE, "downloaded .deb packages", "/var/cache/apt/archives"),
    (FileKind.APT_LISTS, "apt package lists", "/var/lib/apt/lists"),
    (FileKind.APK_CACHE, "apk package cache", "/var/cache/apk"),
)


@image_check(
    "STK-IMG-006",
    "The image should not keep package manager caches",
    Severity.NEGLIGIBLE,
    rationale=(
        "Package caches and indexes add size and a stale view of the repositories "
        "to every container; they show install steps did not clean up after themselves."
    ),
    remediation=(
        "Clean in the same RUN that installs: `rm -rf /var/lib/apt/lists/*`, "
        "`apt-get clean`, `apk add --no-cache`."
    ),
    references={"cis": "4.3"},
    needs_files=True,
    needs_config=False,
)
def package_caches(subject: ImageSubject) -> Iterator[Violation]:
    facts = _files(subject)
    for kind, what, directory in _CACHES:
        found = facts.of_kind(kind)
        if found:
            examples = ", ".join(f"/{f.path}" for f in found[:_EXAMPLES])
            more = f" and {len(found) - _EXAMPLES} more" if len(found) > _EXAMPLES else ""
            yield Violation(
                directory, f"{len(found)} files of {what}: {examples}{more}", found[0].layer
            )


@image_check(
    "STK-IMG-007",
    "The image must not contain an SSH server",
    Severity.MEDIUM,
    rationale=(
        "An SSH server is a second way into the container that bypasses the engine's "
        "access control and audit; `docker exec` / `kubectl exec` serve the same need."
    ),
    remediation="Remove openssh-server (or dropbear) from the image.",
    references={"cis": "5.7"},
    needs_files=True,
    needs_config=False,
)
def ssh_server(subject: ImageSubject) -> Iterator[Violation]:
    for found in _files(subject).of_kind(FileKind.SSH_SERVER):
        yield Violation(f"/{found.path}", f"SSH server present: /{found.path}", found.layer)
