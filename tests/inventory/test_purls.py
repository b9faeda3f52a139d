from __future__ import annotations

import pytest
from packageurl import PackageURL

from stockade.core.models import OSInfo, Package, PackageType
from stockade.inventory.purls import purl_for

DEBIAN = OSInfo(family="debian", version="12")


@pytest.mark.parametrize(
    ("pkg", "os_info", "expected"),
    [
        (
            Package("libc6", "2.36-9+deb12u4", PackageType.DEB, arch="amd64", source_name="glibc"),
            DEBIAN,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc",
        ),
        (
            Package("bash", "5.2.15-2+b2", PackageType.DEB, arch="amd64", source_name="bash"),
            OSInfo(family="ubuntu", version="22.04"),
            "pkg:deb/ubuntu/bash@5.2.15-2%2Bb2?arch=amd64&distro=ubuntu-22.04",
        ),
        (
            Package("musl", "1.2.4-r2", PackageType.APK, arch="x86_64"),
            OSInfo(family="alpine", version="3.19.1"),
            "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1",
        ),
        (
            Package("openssl-libs", "1.0.2k-19.el7", PackageType.RPM, arch="x86_64", epoch=1),
            OSInfo(family="centos", version="7"),
            "pkg:rpm/centos/openssl-libs@1.0.2k-19.el7?arch=x86_64&distro=centos-7&epoch=1",
        ),
        (
            Package("Flask_SQLAlchemy", "3.0", PackageType.PYPI),
            None,
            "pkg:pypi/flask-sqlalchemy@3.0",
        ),
        (Package("@babel/core", "7.0.0", PackageType.NPM), None, "pkg:npm/%40babel/core@7.0.0"),
        (
            Package("github.com/pkg/errors", "v0.9.1", PackageType.GOLANG),
            None,
            "pkg:golang/github.com/pkg/errors@v0.9.1",
        ),
        (
            Package(
                "log4j-core", "2.14.1", PackageType.MAVEN, namespace="org.apache.logging.log4j"
            ),
            None,
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        ),
    ],
)
def test_purl_for(pkg: Package, os_info: OSInfo | None, expected: str) -> None:
    got = purl_for(pkg, os_info)
    assert got == expected
    # and it is a valid purl that parses back to the same package
    parsed = PackageURL.from_string(got)
    assert parsed.version == pkg.version
