"""Package URLs (purl) for catalogued packages, per the purl specification's type rules."""

from __future__ import annotations

from dataclasses import replace

from packageurl import PackageURL

from stockade.core.errors import CatalogError
from stockade.core.models import OSInfo, Package, PackageType, pep503_name

# purl namespaces for OS packages come from the distribution, not the package.
_RPM_VENDORS = {
    "rhel": "redhat",
    "centos": "centos",
    "rocky": "rocky",
    "almalinux": "almalinux",
    "fedora": "fedora",
    "amzn": "amazon",
    "ol": "oracle",
    "opensuse-leap": "opensuse",
    "sles": "suse",
    "photon": "photon",
    "mariner": "mariner",
    "azurelinux": "azurelinux",
}


def purl_for(pkg: Package, os_info: OSInfo | None) -> str:
    """The purl that identifies ``pkg``; OS packages get ``distro`` and ``arch``."""
    qualifiers: dict[str, str] = {}
    namespace = pkg.namespace
    name = pkg.name
    version: str | None = pkg.version or None
    if pkg.type.is_os:
        family = os_info.family if os_info else None
        if pkg.type is PackageType.DEB:
            namespace = family or "debian"
        elif pkg.type is PackageType.APK:
            namespace = family or "alpine"
        else:
            namespace = _RPM_VENDORS.get(family or "", family or None)
            if pkg.epoch:
                qualifiers["epoch"] = str(pkg.epoch)
        if pkg.arch:
            qualifiers["arch"] = pkg.arch
        if pkg.source_name and pkg.source_name != pkg.name:
            upstream = pkg.source_name
            if pkg.source_version and pkg.source_version != pkg.version:
                upstream += f"@{pkg.source_version}"
            qualifiers["upstream"] = upstream
        if os_info:
            qualifiers["distro"] = os_info.distro_qualifier
    elif pkg.type is PackageType.PYPI:
        # PEP 503 normalisation, as the purl spec requires for pypi.
        name = pep503_name(name)
    elif pkg.type is PackageType.GOLANG and namespace is None and "/" in name:
        namespace, name = name.rsplit("/", 1)
    elif (
        pkg.type is PackageType.NPM and namespace is None and name.startswith("@") and ("/" in name)
    ):
        namespace, name = name.split("/", 1)
    return PackageURL(
        type=pkg.type.value,
        namespace=namespace,
        name=name,
        version=version,
        qualifiers=qualifiers or None,
    ).to_string()


def with_purl(pkg: Package, os_info: OSInfo | None) -> Package:
    """``pkg`` with its purl filled in; CatalogError when it cannot have one."""
    if pkg.purl:
        return pkg
    if not pkg.name.strip():
        raise CatalogError(f"a {pkg.type.value} package with a blank name was dropped")
    try:
        return replace(pkg, purl=purl_for(pkg, os_info))
    except ValueError as exc:
        raise CatalogError(f"{pkg.name!r} cannot be written as a package URL ({exc})") from exc
