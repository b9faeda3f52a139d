"""Inventories with the data that trips renderers up, and a Hypothesis strategy for more.

Purls are made by the real :func:`stockade.inventory.purls.purl_for`, as the engine
makes them, so the renderers are tested on the purls they will really receive.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import reject
from hypothesis import strategies as st

from stockade.core.models import (
    ArtifactInfo,
    Digest,
    Inventory,
    LayerInfo,
    Location,
    OSInfo,
    Package,
    PackageType,
)
from stockade.inventory.purls import purl_for

LAYER_1 = Digest("sha256:" + "1" * 64)
LAYER_2 = Digest("sha256:" + "2" * 64)
IMAGE_ID = Digest("sha256:" + "a" * 64)
MANIFEST = "sha256:" + "b" * 64

DEBIAN = OSInfo(
    family="debian",
    version="12",
    name="Debian GNU/Linux",
    pretty_name="Debian GNU/Linux 12 (bookworm)",
    codename="bookworm",
)

IMAGE = ArtifactInfo(
    name="registry.example.com/team/app:1.0",
    kind="docker-archive",
    digest=IMAGE_ID,
    repo_tags=("registry.example.com/team/app:1.0",),
    repo_digests=(f"registry.example.com/team/app@{MANIFEST}",),
    layers=(LayerInfo(diff_id=LAYER_1), LayerInfo(diff_id=LAYER_2)),
    architecture="amd64",
    os="linux",
)

DIRECTORY = ArtifactInfo(name="/srv/rootfs", kind="rootfs")
ZIP = ArtifactInfo(name="function.zip", kind="zip")

INVALID_LICENSES = ("GPLv2+ and LGPL", "BSD", "Public Domain", "MIT AND (")


def _pkg(os_info: OSInfo | None = DEBIAN, **fields: object) -> Package:
    pkg = Package(**fields)  # type: ignore[arg-type]
    return replace(pkg, purl=purl_for(pkg, os_info))


def tricky_packages(os_info: OSInfo | None = DEBIAN) -> tuple[Package, ...]:
    """One package per trap; comments say which."""
    status = (Location("var/lib/dpkg/status", LAYER_1),)
    return (
        # '+' and '~' in versions, an epoch, a source package, an architecture
        _pkg(
            os_info,
            name="libc6",
            version="2.36-9+deb12u4",
            type=PackageType.DEB,
            arch="amd64",
            source_name="glibc",
            licenses=("GPLv2+ and LGPL", "MIT"),  # one invalid, one SPDX id
            locations=status,
            cataloger="dpkg",
        ),
        _pkg(
            os_info,
            name="vim-tiny",
            version="2:9.0.1378-2~bpo12+1",
            type=PackageType.DEB,
            arch="amd64",
            source_name="vim",
            source_version="2:9.0.1378-2",
            licenses=("Vim",),
            locations=status,
        ),
        # an rpm with epoch and a compound SPDX expression in lower case
        _pkg(
            os_info,
            name="openssl-libs",
            version="3.0.7-27.el9",
            epoch=1,
            type=PackageType.RPM,
            arch="x86_64",
            licenses=("apache-2.0 or mit",),
        ),
        # unicode names
        _pkg(
            os_info,
            name="ñandú",
            version="1.0",
            type=PackageType.PYPI,
            licenses=("BSD-3-Clause",),
            locations=(Location("usr/lib/python3/dist-packages/ñandú-1.0.dist-info/METADATA"),),
        ),
        _pkg(os_info, name="日本語パッケージ", version="0.0.1", type=PackageType.NPM),
        # duplicate names with different versions
        _pkg(
            os_info,
            name="requests",
            version="2.31.0",
            type=PackageType.PYPI,
            licenses=("Apache-2.0",),
        ),
        _pkg(os_info, name="requests", version="2.28.1", type=PackageType.PYPI, dev=True),
        # scoped npm names, written both ways a cataloger may write them
        _pkg(
            os_info,
            name="@babel/core",
            version="7.22.0",
            type=PackageType.NPM,
            licenses=("MIT",),
            locations=(
                Location("app/node_modules/@babel/core/package.json", LAYER_2),
                Location("app/other/node_modules/@babel/core/package.json", LAYER_2),
            ),
        ),
        _pkg(os_info, name="node", namespace="@types", version="20.1.0", type=PackageType.NPM),
        # a Maven namespace
        _pkg(
            os_info,
            name="commons-lang3",
            namespace="org.apache.commons",
            version="3.12.0",
            type=PackageType.MAVEN,
            licenses=("Apache-2.0",),
            locations=(Location("app/lib/commons-lang3-3.12.0.jar", LAYER_2),),
        ),
        # no version at all; a Go module path as the name
        _pkg(os_info, name="github.com/acme/tool", version="", type=PackageType.GOLANG),
        # licences: none, invalid ones, an exception, a deprecated id, a LicenseRef
        _pkg(
            os_info,
            name="weird-licences",
            version="1.0+build.5",
            type=PackageType.CARGO,
            licenses=(
                *INVALID_LICENSES,
                "GPL-2.0-or-later WITH Classpath-exception-2.0",
                "GPL-2.0+",
                "LicenseRef-acme",
                "",
                "   ",
            ),
        ),
        _pkg(
            os_info,
            name="all-spdx",
            version="1",
            type=PackageType.GEM,
            licenses=("MIT", "(Apache-2.0 OR MIT)"),
        ),
        # a hostile name: an escape sequence and a BIDI override
        _pkg(os_info, name="evil\x1b[31mred\u202ename", version="1.0", type=PackageType.COMPOSER),
    )


def same_purl_twice() -> tuple[Package, ...]:
    """The same package found in two places and not merged (an inventory built by hand)."""
    first = _pkg(
        None,
        name="lodash",
        version="4.17.21",
        type=PackageType.NPM,
        locations=(Location("a/node_modules/lodash/package.json"),),
    )
    second = replace(first, locations=(Location("b/node_modules/lodash/package.json"),))
    return (first, second)


def tricky_inventory() -> Inventory:
    return Inventory(artifact=IMAGE, os=DEBIAN, packages=tricky_packages() + same_purl_twice())


# -- Hypothesis --------------------------------------------------------------------------

_any_text = st.text(max_size=30)
_versions = st.one_of(
    st.just(""),
    st.from_regex(r"[0-9]{1,3}:[0-9.]{1,8}[-+~][a-z0-9.+~]{0,8}", fullmatch=True),
    _any_text,
)
_license = st.one_of(
    st.sampled_from(
        [
            "MIT",
            "Apache-2.0",
            "mit",
            "GPL-2.0+",
            "Apache-2.0 OR MIT",
            "LGPL-2.1-only WITH Classpath-exception-2.0",
        ]
    ),
    st.sampled_from(INVALID_LICENSES),
    _any_text,
)
_locations = st.lists(
    st.builds(
        Location,
        path=st.text(min_size=1, max_size=40).map(lambda p: p.lstrip("/") or "x"),
        layer=st.one_of(st.none(), st.just(LAYER_1), st.just(LAYER_2)),
    ),
    max_size=3,
)


@st.composite
def packages(draw: st.DrawFn, os_info: OSInfo | None = DEBIAN) -> Package:
    pkg = Package(
        name=draw(st.text(min_size=1, max_size=30)),
        version=draw(_versions),
        type=draw(st.sampled_from(PackageType)),
        namespace=draw(st.one_of(st.none(), st.text(min_size=1, max_size=15))),
        arch=draw(st.one_of(st.none(), st.sampled_from(["amd64", "arm64", "x86_64", "noarch"]))),
        epoch=draw(st.one_of(st.none(), st.integers(0, 5))),
        source_name=draw(st.one_of(st.none(), _any_text)),
        source_version=draw(st.one_of(st.none(), _any_text)),
        licenses=tuple(draw(st.lists(_license, max_size=4))),
        locations=tuple(draw(_locations)),
        dev=draw(st.booleans()),
    )
    try:
        purl = purl_for(pkg, os_info)
    except (ValueError, TypeError):
        # packageurl refuses (or, for a blank name, crashes on) names that lose all
        # their characters to its normalisation; that is purls.py's to handle, and
        # a renderer is never handed such a package.
        reject()
    return replace(pkg, purl=purl)


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    os_info = draw(st.one_of(st.none(), st.just(DEBIAN)))
    artifact = draw(
        st.one_of(
            st.sampled_from([IMAGE, DIRECTORY, ZIP]),
            st.builds(ArtifactInfo, name=_any_text, kind=st.sampled_from(["rootfs", "zip", "oci"])),
        )
    )
    found = draw(st.lists(packages(os_info), max_size=6))
    return Inventory(artifact=artifact, os=os_info, packages=tuple(found))
