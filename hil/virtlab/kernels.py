"""Real Debian kernels for the virtual lab, fetched into a cache and never installed.

An alias names a kernel series (`6.1`, `6.12`) and is resolved through
Debian's `linux-image-amd64` meta-package, because the package behind a
series is renamed at every Debian point release (6.1.0-56 today, -57
tomorrow); a pinned build number would rot.  The resolved package and
version are recorded so a report can say which kernel really ran.

The cache is keyed by package version and filled atomically (download and
extract in a temporary folder, then one rename), so an interrupted run never
leaves a tree that looks complete.  An alias may move, so it is re-resolved
at most once a day; offline, the last resolution is used and said to be.

A user's own kernel (`{bzimage: ..., modules: ...}` or `{build_tree: ...}`)
bypasses apt entirely.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hil.virtlab.aptcache import (
    AptError,
    CommandRunner,
    DebianMirror,
    PrivateApt,
    host_debian_mirror,
    run_command,
)

META_PACKAGE = "linux-image-amd64"
RESOLVE_MAX_AGE_S = 24 * 3600.0
LISTS_MAX_AGE_S = 3600.0  # resolving 6.1 and 6.12 back to back updates the lists once
MARKER = ".hil-kernel.json"
INDEX = "index.json"

KernelSpec = str | Mapping[str, str | os.PathLike[str]]
Progress = Callable[[str], None]


class KernelError(RuntimeError):
    """A kernel could not be provided; the message names the kernel and what failed."""


@dataclass(frozen=True)
class KernelImage:
    """A bootable kernel and its modules, as the virtual machine needs them.

    `package` and `version` are None for a user's own kernel; `modules_dir`
    is None when a user kernel comes without modules.
    """

    alias: str
    package: str | None
    version: str | None
    release: str
    vmlinuz: Path
    modules_dir: Path | None
    root: Path | None


@dataclass(frozen=True)
class Resolution:
    package: str
    version: str
    resolved_at: float

    def described(self) -> str:
        when = datetime.fromtimestamp(self.resolved_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{self.package} {self.version} (resolved {when})"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pcie-hil" / "kernels"


def _tree_name(package: str, version: str) -> str:
    # An epoch's colon is the one character of a Debian version unsafe in a folder name.
    return f"{package}_{version.replace(':', '%3a')}"


def _is_alias(spec: str) -> bool:
    return re.fullmatch(r"\d+\.\d+", spec) is not None


def _check_spec(spec: str) -> None:
    if not (_is_alias(spec) or spec.startswith("linux-image-")):
        raise KernelError(
            f"kernel '{spec}': expected a series alias such as 6.1 or 6.12, or a Debian "
            "package name starting with linux-image-"
        )


class KernelCache:
    """The kernel cache folder and the private apt state that fills it."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        progress: Progress | None = None,
        runner: CommandRunner = run_command,
        clock: Callable[[], float] = time.time,
        mirror: Callable[[], DebianMirror] = host_debian_mirror,
    ) -> None:
        self.dir = cache_dir or default_cache_dir()
        self.progress: Progress = progress or (lambda _message: None)
        self.runner = runner
        self.clock = clock
        self._mirror = mirror
        self._apt: PrivateApt | None = None

    # -- public ---------------------------------------------------------
    def ensure(self, spec: str) -> KernelImage:
        """The kernel for an alias (`6.12`) or a package name, fetched only if missing."""
        _check_spec(spec)
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._sweep_temporaries()
            index = self._load_index()
            cached = index.get(spec)
            if cached and self._has_tree(cached) and not self._stale(cached):
                return self._image(spec, cached)
            try:
                resolution = self._resolve(spec)
            except (AptError, KernelError) as exc:
                if cached and self._has_tree(cached):
                    self.progress(
                        f"kernel {spec}: could not re-resolve ({_first_line(exc)}); "
                        f"using the cached {cached.described()}"
                    )
                    return self._image(spec, cached)
                raise _as_kernel_error(spec, exc) from exc
            index[spec] = resolution
            self._save_index(index)
            if not self._has_tree(resolution):
                self._fetch(spec, resolution)
            return self._image(spec, resolution)

    def resolve(self, spec: str) -> Resolution:
        """Which package and version `spec` means today (always asks the registry)."""
        _check_spec(spec)
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            try:
                return self._resolve(spec)
            except AptError as exc:
                raise _as_kernel_error(spec, exc) from exc

    # -- resolution -----------------------------------------------------
    def _stale(self, resolution: Resolution) -> bool:
        return self.clock() - resolution.resolved_at > RESOLVE_MAX_AGE_S

    def _apt_state(self) -> PrivateApt:
        if self._apt is None:
            self._apt = PrivateApt(self.dir / "apt", self._mirror(), self.runner, self.clock)
        return self._apt

    def _resolve(self, spec: str) -> Resolution:
        apt = self._apt_state()
        self.progress(f"kernel {spec}: resolving through the Debian registry")
        apt.update(LISTS_MAX_AGE_S)
        if not _is_alias(spec):
            return Resolution(spec, apt.candidate_version(spec), self.clock())
        offered: list[str] = []
        codename = apt.mirror.codename
        for target in (None, f"{codename}-backports"):
            for package in apt.depends(META_PACKAGE, target):
                if package.startswith(f"linux-image-{spec}."):
                    version = apt.candidate_version(package, target)
                    self.progress(f"kernel {spec}: {package} {version}")
                    return Resolution(package, version, self.clock())
                offered.append(f"{package} ({target or codename})")
        raise KernelError(
            f"kernel {spec}: {META_PACKAGE} in {codename} and {codename}-backports points to "
            f"{', '.join(offered) or 'nothing'}, none of series {spec}"
        )

    # -- the cache folder -----------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One process fills the cache at a time: parallel VM starts share kernels."""
        with (self.dir / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _sweep_temporaries(self) -> None:
        # Under the lock any temporary folder belongs to an interrupted run.
        for leftover in self.dir.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def _load_index(self) -> dict[str, Resolution]:
        try:
            raw = json.loads((self.dir / INDEX).read_text())
            return {spec: Resolution(**entry) for spec, entry in raw["resolutions"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _save_index(self, index: dict[str, Resolution]) -> None:
        data = {"resolutions": {spec: res.__dict__ for spec, res in sorted(index.items())}}
        tmp = self.dir / f".tmp-{INDEX}"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.dir / INDEX)

    def _tree(self, resolution: Resolution) -> Path:
        return self.dir / _tree_name(resolution.package, resolution.version)

    def _has_tree(self, resolution: Resolution) -> bool:
        return (self._tree(resolution) / MARKER).is_file()

    def _image(self, spec: str, resolution: Resolution) -> KernelImage:
        root = self._tree(resolution)
        release = json.loads((root / MARKER).read_text())["release"]
        return KernelImage(
            alias=spec,
            package=resolution.package,
            version=resolution.version,
            release=release,
            vmlinuz=root / "boot" / f"vmlinuz-{release}",
            modules_dir=root / "lib" / "modules" / release,
            root=root,
        )

    def _fetch(self, spec: str, resolution: Resolution) -> None:
        """Download, extract and index modules in a temporary folder, then rename it in place."""
        package, version = resolution.package, resolution.version
        apt = self._apt_state()
        work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.dir))
        try:
            self.progress(f"kernel {spec}: downloading {package} {version}")
            apt.update(RESOLVE_MAX_AGE_S)
            deb = apt.download(package, version, work)
            root = work / "root"
            self.progress(f"kernel {spec}: extracting {deb.name}")
            self._check(spec, ["dpkg-deb", "-x", str(deb), str(root)], f"extracting {deb.name}")
            release = _single_release(spec, root)
            if not (root / "boot" / f"vmlinuz-{release}").is_file():
                raise KernelError(f"kernel {spec}: {deb.name} has no boot/vmlinuz-{release}")
            # Debian builds modules.dep in postinst, which extraction skips; building it
            # here keeps parallel guests from each running depmod in the shared cache.
            depmod = shutil.which("depmod") or "/usr/sbin/depmod"
            self._check(spec, [depmod, "-a", "-b", str(root), release], "depmod")
            marker = {"package": package, "version": version, "release": release}
            (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            root.rename(self._tree(resolution))
        except AptError as exc:
            raise _as_kernel_error(spec, exc) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _check(self, spec: str, argv: list[str], what: str) -> None:
        result = self.runner(argv)
        if result.returncode != 0:
            raise KernelError(f"kernel {spec}: {what} failed:\n{result.tail()}")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _as_kernel_error(spec: str, exc: Exception) -> KernelError:
    if isinstance(exc, KernelError):
        return exc
    return KernelError(f"kernel {spec}: {exc}")


def _single_release(spec: str, root: Path) -> str:
    modules = root / "lib" / "modules"
    releases = sorted(p.name for p in modules.iterdir()) if modules.is_dir() else []
    if len(releases) != 1:
        raise KernelError(
            f"kernel {spec}: expected one release folder in lib/modules, found {releases or 'none'}"
        )
    return releases[0]


# -- a user's own kernel ----------------------------------------------------


def bzimage_release(path: Path) -> str:
    """The release string a bzImage carries in its x86 boot setup header.

    The header (Documentation/arch/x86/boot.rst) has the magic "HdrS" at
    0x202 and, at 0x20e, a pointer (minus 0x200) to the version string,
    whose first word is what `uname -r` prints.
    """
    try:
        with path.open("rb") as f:
            head = f.read(0x10000)
    except OSError as exc:
        raise KernelError(f"cannot read the kernel image {path}: {exc}") from exc
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        raise KernelError(f"{path} is not an x86 bzImage (no HdrS setup header)")
    (pointer,) = struct.unpack_from("<H", head, 0x20E)
    text = head[pointer + 0x200 :].split(b"\0", 1)[0].decode(errors="replace")
    if not text.split():
        raise KernelError(f"{path}: its setup header carries no version string")
    return text.split()[0]


def _user_modules(path: Path, release: str | None) -> tuple[Path, Path | None, str]:
    """(modules dir, root, release) from either an INSTALL_MOD_PATH root or the release folder."""
    under = path / "lib" / "modules"
    if under.is_dir():
        found = sorted(p.name for p in under.iterdir() if p.is_dir())
        chosen = release if release in found else (found[0] if len(found) == 1 else None)
        if chosen is None:
            raise KernelError(f"modules {path}: cannot tell which of {found} belongs to the kernel")
        return under / chosen, path, chosen
    if not path.is_dir():
        raise KernelError(f"modules {path}: not a folder")
    return path, None, path.name


def user_kernel(spec: Mapping[str, str | os.PathLike[str]]) -> KernelImage:
    """A kernel the user built: `{bzimage, modules?}` or `{build_tree, modules?}`."""
    keys = set(spec)
    images = keys & {"bzimage", "build_tree"}
    if not keys <= {"bzimage", "build_tree", "modules"} or len(images) != 1:
        raise KernelError(
            f"own kernel {dict(spec)}: give either 'bzimage' or 'build_tree', and optionally "
            "'modules'"
        )
    release: str | None
    if "build_tree" in spec:
        tree = Path(spec["build_tree"])
        vmlinuz = tree / "arch" / "x86" / "boot" / "bzImage"
        if not vmlinuz.is_file():
            raise KernelError(f"build tree {tree}: no arch/x86/boot/bzImage (build it first)")
        try:
            release = (tree / "include" / "config" / "kernel.release").read_text().strip()
        except OSError as exc:
            raise KernelError(f"build tree {tree}: cannot read its kernel.release: {exc}") from exc
        alias = f"build_tree:{tree}"
    else:
        vmlinuz = Path(spec["bzimage"])
        release = bzimage_release(vmlinuz)
        alias = f"bzimage:{vmlinuz}"
    modules_dir: Path | None = None
    root: Path | None = None
    if "modules" in spec:
        modules_dir, root, modules_release = _user_modules(Path(spec["modules"]), release)
        if modules_release != release:
            raise KernelError(
                f"own kernel {alias}: the kernel is {release} but the modules are for "
                f"{modules_release}"
            )
    return KernelImage(
        alias=alias,
        package=None,
        version=None,
        release=release,
        vmlinuz=vmlinuz,
        modules_dir=modules_dir,
        root=root,
    )


def ensure_kernel(
    spec: KernelSpec, cache_dir: Path | None = None, progress: Progress | None = None
) -> KernelImage:
    """A bootable kernel for `spec`: a Debian alias or package, or the user's own kernel."""
    if isinstance(spec, str):
        return KernelCache(cache_dir, progress=progress).ensure(spec)
    return user_kernel(spec)
