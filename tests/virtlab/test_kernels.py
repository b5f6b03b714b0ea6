"""Debian kernels for the virtual lab: sources, aliases, the cache, users' own kernels.

apt is replaced by `FakeApt`, a runner that answers like the Debian
registry from a small catalogue and fakes `dpkg-deb -x` and `depmod`; one
test marked `virtlab` asks the real registry.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from hil.virtlab.aptcache import (
    AptError,
    CommandResult,
    DebianMirror,
    PrivateApt,
    SourceEntry,
    find_debian_mirror,
    host_codename,
    host_debian_mirror,
    parse_candidate,
    parse_deb822_sources,
    parse_depends,
    parse_one_line_sources,
    read_host_sources,
    update_failed,
)
from hil.virtlab.kernels import (
    KernelCache,
    KernelError,
    bzimage_release,
    default_cache_dir,
    ensure_kernel,
    user_kernel,
)

# No real mirror may be named anywhere: fixtures use local file URIs.
MIRROR = DebianMirror(
    codename="bookworm",
    uri="file:///srv/debian",
    signed_by="/usr/share/keyrings/debian-archive-keyring.gpg",
    security_uri="file:///srv/debian-security",
    security_signed_by="/usr/share/keyrings/debian-archive-keyring.gpg",
)
DAY = 24 * 3600.0

# -- the host's sources ------------------------------------------------------

ONE_LINE = """\
# the main archive
deb [ arch=amd64 signed-by=/keys/debian.gpg ] file:///srv/debian bookworm main contrib
deb-src file:///srv/debian bookworm main
deb file:///srv/debian-security bookworm-security main non-free-firmware  # security
deb file:///srv/other stable extra

"""

DEB822 = """\
Types: deb
# a comment inside a paragraph does not end it
URIs: file:///srv/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: file:///srv/disabled
Suites: bookworm
Components: main
Enabled: no

Types: deb deb-src
URIs: file:///srv/third-party
Suites: nodistro
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBF...
 -----END PGP PUBLIC KEY BLOCK-----
"""


def test_one_line_sources_are_parsed_with_options_and_comments() -> None:
    entries = parse_one_line_sources(ONE_LINE)
    assert entries == [
        SourceEntry(
            ("deb",),
            ("file:///srv/debian",),
            ("bookworm",),
            ("main", "contrib"),
            "/keys/debian.gpg",
        ),
        SourceEntry(("deb-src",), ("file:///srv/debian",), ("bookworm",), ("main",)),
        SourceEntry(
            ("deb",),
            ("file:///srv/debian-security",),
            ("bookworm-security",),
            ("main", "non-free-firmware"),
        ),
        SourceEntry(("deb",), ("file:///srv/other",), ("stable",), ("extra",)),
    ]


def test_deb822_sources_skip_disabled_paragraphs_and_inline_keys() -> None:
    entries = parse_deb822_sources(DEB822)
    assert entries == [
        SourceEntry(
            ("deb",),
            ("file:///srv/debian",),
            ("bookworm", "bookworm-updates"),
            ("main",),
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        ),
        SourceEntry(("deb", "deb-src"), ("file:///srv/third-party",), ("nodistro",), ("main",)),
    ]


def test_host_sources_come_from_both_formats_and_only_known_suffixes(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb file:///srv/a bookworm main\n")
    (tmp_path / "sources.list.d" / "b.sources").write_text(
        "Types: deb\nURIs: file:///srv/b\nSuites: bookworm-backports\nComponents: main\n"
    )
    (tmp_path / "sources.list.d" / "c.list").write_text(
        "deb file:///srv/c bookworm-security main\n"
    )
    (tmp_path / "sources.list.d" / "d.list.disabled").write_text(
        "deb file:///srv/d bookworm main\n"
    )
    uris = [entry.uris[0] for entry in read_host_sources(tmp_path)]
    assert uris == ["file:///srv/a", "file:///srv/b", "file:///srv/c"]


def test_the_mirror_is_the_one_carrying_the_codename_with_main() -> None:
    entries = [
        *parse_one_line_sources("deb file:///srv/contrib-only bookworm contrib\n"),
        *parse_deb822_sources(DEB822),
        *parse_one_line_sources("deb [signed-by=/k.gpg] file:///srv/sec bookworm-security main\n"),
    ]
    mirror = find_debian_mirror(entries, "bookworm")
    assert mirror.uri == "file:///srv/debian"
    assert mirror.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert mirror.security_uri == "file:///srv/sec"
    assert mirror.security_signed_by == "/k.gpg"
    assert mirror.sources_list().splitlines() == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "file:///srv/debian bookworm main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "file:///srv/debian bookworm-backports main",
        "deb [signed-by=/k.gpg] file:///srv/sec bookworm-security main",
    ]


def test_a_host_without_a_debian_source_is_told_so() -> None:
    entries = parse_one_line_sources("deb file:///srv/other jammy main\n")
    with pytest.raises(AptError, match="no 'deb' entry for suite 'bookworm'"):
        find_debian_mirror(entries, "bookworm")


def test_the_codename_comes_from_os_release(tmp_path: Path) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="Debian GNU/Linux"\nVERSION_CODENAME=trixie\nID=debian\n')
    assert host_codename(os_release) == "trixie"
    os_release.write_text('NAME="Something"\n')
    with pytest.raises(AptError, match="no VERSION_CODENAME"):
        host_codename(os_release)


# -- apt output --------------------------------------------------------------


def test_depends_output_is_parsed() -> None:
    output = (
        "linux-image-amd64\n"
        "  Depends: linux-image-6.12.95+deb12-amd64\n"
        " |Depends: <linux-image-virtual>\n"
        "  Recommends: firmware-linux\n"
    )
    assert parse_depends(output) == ["linux-image-6.12.95+deb12-amd64", "linux-image-virtual"]


def test_policy_candidate_is_parsed() -> None:
    output = (
        "linux-image-amd64:\n  Installed: (none)\n  Candidate: 6.1.192-2\n"
        "  Version table:\n     6.12.95-1~bpo12+1 100\n"
    )
    assert parse_candidate(output) == "6.1.192-2"
    assert parse_candidate("x:\n  Installed: (none)\n  Candidate: (none)\n") is None


def test_an_update_that_kept_old_lists_counts_as_failed() -> None:
    offline = "Err:1 file:///srv/debian bookworm InRelease\nW: Failed to fetch x\n"
    assert update_failed(CommandResult(0, offline))
    assert update_failed(CommandResult(100, "E: something"))
    assert not update_failed(CommandResult(0, "Hit:1 file:///srv/debian bookworm InRelease\n"))


# -- a fake registry ---------------------------------------------------------

Catalogue = dict[str | None, dict[str, str]]  # target release -> meta dependency -> version


def _strip_options(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """The apt arguments without `-o X=Y` pairs, and the `-t` target if any."""
    args: list[str] = []
    target = None
    it = iter(argv)
    for arg in it:
        if arg == "-o":
            next(it)
        elif arg == "-t":
            target = next(it)
        else:
            args.append(arg)
    return args, target


class FakeApt:
    """Answers apt-get, apt-cache, dpkg-deb and depmod like a tiny Debian registry."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.calls: list[list[str]] = []
        self.envs: list[Mapping[str, str] | None] = []
        self.offline = False
        self.extraction_fails = False

    def names(self) -> list[str]:
        return [_strip_options(call)[0][1] if call[0].startswith("apt") else call[0]
                for call in self.calls]  # fmt: skip

    def __call__(
        self, argv: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        self.calls.append(list(argv))
        self.envs.append(env)
        args, target = _strip_options(argv)
        tool = Path(args[0]).name
        if tool == "apt-get" and args[1] == "update":
            if self.offline:
                return CommandResult(0, "W: Failed to fetch file:///srv/debian/InRelease\n")
            return CommandResult(0, "Hit:1 bookworm InRelease\n")
        if tool == "apt-cache" and args[1] == "depends":
            deps = "".join(f"  Depends: {name}\n" for name in self.catalogue.get(target, {}))
            return CommandResult(0, f"{args[2]}\n{deps}")
        if tool == "apt-cache" and args[1] == "policy":
            for release in (target, None, "bookworm-backports"):
                if args[2] in self.catalogue.get(release, {}):
                    version = self.catalogue[release][args[2]]
                    return CommandResult(0, f"{args[2]}:\n  Candidate: {version}\n")
            return CommandResult(0, f"{args[2]}:\n  Candidate: (none)\n")
        if tool == "apt-get" and args[1] == "download":
            package, version = args[2].split("=")
            assert cwd is not None
            (cwd / f"{package}_{version}_amd64.deb").write_text(package)
            return CommandResult(0, f"Get:1 {package} {version}\n")
        if tool == "dpkg-deb":
            deb, root = Path(args[2]), Path(args[3])
            release = deb.read_text().removeprefix("linux-image-")
            (root / "boot").mkdir(parents=True)
            if self.extraction_fails:
                return CommandResult(2, "dpkg-deb: error: unexpected end of file in archive\n")
            (root / "boot" / f"vmlinuz-{release}").write_text("kernel")
            (root / "lib" / "modules" / release / "kernel").mkdir(parents=True)
            return CommandResult(0, "")
        if tool == "depmod":
            root, release = Path(args[3]), args[4]
            (root / "lib" / "modules" / release / "modules.dep").write_text("")
            return CommandResult(0, "")
        raise AssertionError(f"unexpected command {argv}")


STABLE_6_1 = {"linux-image-6.1.0-56-amd64": "6.1.192-2"}
BACKPORTS_6_12 = {"linux-image-6.12.95+deb12-amd64": "6.12.95-1~bpo12+1"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def make_cache(tmp_path: Path, apt: FakeApt, clock: Clock) -> tuple[KernelCache, list[str]]:
    said: list[str] = []
    cache = KernelCache(
        tmp_path / "kernels", progress=said.append, runner=apt, clock=clock, mirror=lambda: MIRROR
    )
    return cache, said


@pytest.fixture
def apt() -> FakeApt:
    return FakeApt({None: dict(STABLE_6_1), "bookworm-backports": dict(BACKPORTS_6_12)})


def test_6_1_resolves_through_the_stable_meta_package(tmp_path: Path, apt: FakeApt) -> None:
    cache, _ = make_cache(tmp_path, apt, Clock())
    image = cache.ensure("6.1")
    root = tmp_path / "kernels" / "linux-image-6.1.0-56-amd64_6.1.192-2"
    assert (image.package, image.version, image.release) == (
        "linux-image-6.1.0-56-amd64",
        "6.1.192-2",
        "6.1.0-56-amd64",
    )
    assert image.root == root
    assert image.vmlinuz == root / "boot" / "vmlinuz-6.1.0-56-amd64"
    assert image.modules_dir == root / "lib" / "modules" / "6.1.0-56-amd64"
    assert image.vmlinuz.is_file()
    assert (image.modules_dir / "modules.dep").is_file()
    depends = [c for c in apt.calls if "depends" in c]
    assert len(depends) == 1 and "-t" not in depends[0]


def test_6_12_comes_from_backports(tmp_path: Path, apt: FakeApt) -> None:
    cache, _ = make_cache(tmp_path, apt, Clock())
    image = cache.ensure("6.12")
    assert (image.package, image.version, image.release) == (
        "linux-image-6.12.95+deb12-amd64",
        "6.12.95-1~bpo12+1",
        "6.12.95+deb12-amd64",
    )
    backports = [c for c in apt.calls if "depends" in c and "-t" in c]
    assert backports and backports[0][backports[0].index("-t") + 1] == "bookworm-backports"


def test_every_apt_call_uses_the_private_state(tmp_path: Path, apt: FakeApt) -> None:
    cache, _ = make_cache(tmp_path, apt, Clock())
    cache.ensure("6.12")
    private = tmp_path / "kernels" / "apt"
    apt_calls = [(c, e) for c, e in zip(apt.calls, apt.envs, strict=True) if c[0].startswith("apt")]
    assert apt_calls
    for call, env in apt_calls:
        options = dict(call[i + 1].split("=", 1) for i, a in enumerate(call) if a == "-o")
        assert options["Dir::Etc::SourceList"] == str(private / "sources.list")
        assert options["Dir::Etc::SourceParts"] == str(private / "empty.d")
        assert options["Dir::State"] == str(private / "state")
        assert options["Dir::Cache"] == str(private / "cache")
        assert env is not None and env["APT_CONFIG"] == str(private / "apt.conf")
        assert env["LC_ALL"] == "C"
    assert (private / "sources.list").read_text() == MIRROR.sources_list()


def test_the_private_config_keeps_host_settings_but_not_its_update_hooks(tmp_path: Path) -> None:
    """Real apt-config reads the generated configuration (no network needed)."""
    if shutil.which("apt-config") is None:
        pytest.skip("apt-config is not installed (not a Debian host)")
    recorded: list[tuple[list[str], Mapping[str, str] | None]] = []

    def runner(
        argv: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        recorded.append((list(argv), env))
        return CommandResult(0, "Hit:1\n")

    PrivateApt(tmp_path, MIRROR, runner).update(0)
    argv, env = recorded[0]
    dump = subprocess.run(
        ["apt-config", *argv[1:-1], "dump"],
        env=dict(env or {}),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # apt-config prints some keys in lower case.
    assert f'dir::etc::sourcelist "{tmp_path / "sources.list"}";' in dump.lower()
    assert not re.search(r"^APT::Update::Post-Invoke(-Success)?:: ", dump, re.MULTILINE)


def test_a_second_call_does_no_network_work(tmp_path: Path, apt: FakeApt) -> None:
    clock = Clock()
    cache, _ = make_cache(tmp_path, apt, clock)
    first = cache.ensure("6.12")
    apt.calls.clear()
    clock.now += DAY - 60
    assert cache.ensure("6.12") == first
    assert apt.calls == []


def test_after_a_day_the_alias_is_resolved_again_without_a_new_download(
    tmp_path: Path, apt: FakeApt
) -> None:
    clock = Clock()
    cache, _ = make_cache(tmp_path, apt, clock)
    first = cache.ensure("6.1")
    apt.calls.clear()
    clock.now += DAY + 60
    assert cache.ensure("6.1") == first
    assert "update" in apt.names() and "depends" in apt.names()
    assert "download" not in apt.names()


def test_a_moved_alias_fetches_the_new_package(tmp_path: Path, apt: FakeApt) -> None:
    clock = Clock()
    cache, _ = make_cache(tmp_path, apt, clock)
    old = cache.ensure("6.1")
    apt.catalogue[None] = {"linux-image-6.1.0-57-amd64": "6.1.193-1"}
    clock.now += DAY + 60
    new = cache.ensure("6.1")
    assert (new.package, new.release) == ("linux-image-6.1.0-57-amd64", "6.1.0-57-amd64")
    assert old.root is not None and old.root.is_dir()  # kept: it is keyed by version
    index = json.loads((tmp_path / "kernels" / "index.json").read_text())
    assert index["resolutions"]["6.1"]["package"] == "linux-image-6.1.0-57-amd64"
    assert index["resolutions"]["6.1"]["resolved_at"] == clock.now


def test_offline_uses_the_cached_resolution_and_says_so(tmp_path: Path, apt: FakeApt) -> None:
    clock = Clock()
    cache, said = make_cache(tmp_path, apt, clock)
    first = cache.ensure("6.12")
    apt.offline = True
    clock.now += 2 * DAY
    assert cache.ensure("6.12") == first
    assert "could not re-resolve" in said[-1] and "linux-image-6.12.95+deb12-amd64" in said[-1]


def test_offline_without_a_cache_is_an_error_with_apt_output(tmp_path: Path, apt: FakeApt) -> None:
    apt.offline = True
    cache, _ = make_cache(tmp_path, apt, Clock())
    with pytest.raises(KernelError, match=r"kernel 6\.12: apt-get update .*\n.*Failed to fetch"):
        cache.ensure("6.12")


def test_an_interrupted_extraction_leaves_nothing_that_looks_complete(
    tmp_path: Path, apt: FakeApt
) -> None:
    cache, _ = make_cache(tmp_path, apt, Clock())
    apt.extraction_fails = True
    with pytest.raises(KernelError, match=r"(?s)kernel 6\.1: extracting .*unexpected end of file"):
        cache.ensure("6.1")
    leftovers = sorted(p.name for p in (tmp_path / "kernels").iterdir())
    assert not [name for name in leftovers if name.startswith(("linux-image", ".tmp-"))]
    apt.extraction_fails = False
    assert cache.ensure("6.1").vmlinuz.is_file()


def test_leftovers_of_a_killed_run_are_swept(tmp_path: Path, apt: FakeApt) -> None:
    kernels = tmp_path / "kernels"
    half = kernels / ".tmp-killed" / "root" / "boot"
    half.mkdir(parents=True)
    cache, _ = make_cache(tmp_path, apt, Clock())
    cache.ensure("6.1")
    assert not (kernels / ".tmp-killed").exists()


def test_a_tree_without_its_marker_is_fetched_again(tmp_path: Path, apt: FakeApt) -> None:
    cache, _ = make_cache(tmp_path, apt, Clock())
    image = cache.ensure("6.1")
    assert image.root is not None
    (image.root / ".hil-kernel.json").unlink()
    shutil.rmtree(image.root / "boot")
    shutil.move(image.root, tmp_path / "aside")  # rename would fail onto an existing folder
    apt.calls.clear()
    assert cache.ensure("6.1").vmlinuz.is_file()
    assert "download" in apt.names()


def test_a_package_name_is_taken_as_is(tmp_path: Path, apt: FakeApt) -> None:
    cache, _ = make_cache(tmp_path, apt, Clock())
    image = cache.ensure("linux-image-6.12.95+deb12-amd64")
    assert (image.package, image.version) == (
        "linux-image-6.12.95+deb12-amd64",
        "6.12.95-1~bpo12+1",
    )
    assert "depends" not in apt.names()


def test_a_series_nobody_offers_is_an_error_naming_what_is_offered(
    tmp_path: Path, apt: FakeApt
) -> None:
    cache, _ = make_cache(tmp_path, apt, Clock())
    with pytest.raises(KernelError, match=r"kernel 5\.10: .*linux-image-6\.1\.0-56-amd64"):
        cache.ensure("5.10")


def test_a_spec_that_is_neither_alias_nor_package_is_refused(tmp_path: Path, apt: FakeApt) -> None:
    cache, _ = make_cache(tmp_path, apt, Clock())
    with pytest.raises(KernelError, match="kernel 'latest'"):
        cache.ensure("latest")
    assert apt.calls == []


def test_a_host_without_debian_sources_is_a_kernel_error(tmp_path: Path, apt: FakeApt) -> None:
    def no_mirror() -> DebianMirror:
        raise AptError("the host's apt sources have no 'deb' entry for suite 'jammy'")

    cache = KernelCache(tmp_path, runner=apt, mirror=no_mirror)
    with pytest.raises(KernelError, match=r"kernel 6\.1: .*no 'deb' entry"):
        cache.ensure("6.1")


def test_the_default_cache_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "pcie-hil" / "kernels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "pcie-hil" / "kernels"


# -- a user's own kernel ------------------------------------------------------


def fake_bzimage(path: Path, version: str) -> Path:
    """The few setup-header bytes a bzImage carries its version in."""
    image = bytearray(0x400)
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x20E, 0x100)  # the string is at 0x100 + 0x200
    text = f"{version} (builder@host) #1 SMP".encode() + b"\0"
    image[0x300 : 0x300 + len(text)] = text
    path.write_bytes(bytes(image))
    return path


def test_bzimage_release_reads_the_setup_header(tmp_path: Path) -> None:
    assert bzimage_release(fake_bzimage(tmp_path / "bz", "6.13.0-rc1+")) == "6.13.0-rc1+"
    (tmp_path / "not").write_bytes(b"\0" * 0x400)
    with pytest.raises(KernelError, match="not an x86 bzImage"):
        bzimage_release(tmp_path / "not")


def test_a_bzimage_with_installed_modules(tmp_path: Path) -> None:
    bz = fake_bzimage(tmp_path / "bzImage", "6.13.0")
    (tmp_path / "mods" / "lib" / "modules" / "6.13.0").mkdir(parents=True)
    image = ensure_kernel({"bzimage": str(bz), "modules": str(tmp_path / "mods")})
    assert (image.release, image.vmlinuz, image.package) == ("6.13.0", bz, None)
    assert image.modules_dir == tmp_path / "mods" / "lib" / "modules" / "6.13.0"
    assert image.root == tmp_path / "mods"


def test_a_bzimage_with_modules_of_another_kernel_is_refused(tmp_path: Path) -> None:
    bz = fake_bzimage(tmp_path / "bzImage", "6.13.0")
    (tmp_path / "6.12.1").mkdir()
    with pytest.raises(KernelError, match=r"kernel is 6\.13\.0 but the modules are for 6\.12\.1"):
        user_kernel({"bzimage": bz, "modules": tmp_path / "6.12.1"})


def test_a_build_tree_gives_its_bzimage_and_release(tmp_path: Path) -> None:
    (tmp_path / "arch" / "x86" / "boot").mkdir(parents=True)
    (tmp_path / "arch" / "x86" / "boot" / "bzImage").write_bytes(b"")
    (tmp_path / "include" / "config").mkdir(parents=True)
    (tmp_path / "include" / "config" / "kernel.release").write_text("6.14.0-hil\n")
    image = user_kernel({"build_tree": tmp_path})
    assert image.release == "6.14.0-hil"
    assert image.vmlinuz == tmp_path / "arch" / "x86" / "boot" / "bzImage"
    assert image.modules_dir is None


def test_a_build_tree_without_bzimage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match="no arch/x86/boot/bzImage"):
        user_kernel({"build_tree": tmp_path})


def test_an_own_kernel_needs_exactly_one_image(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match="either 'bzimage' or 'build_tree'"):
        user_kernel({"bzimage": tmp_path, "build_tree": tmp_path})
    with pytest.raises(KernelError, match="either 'bzimage' or 'build_tree'"):
        user_kernel({"modules": tmp_path})


# -- the real registry ----------------------------------------------------------


def _real_cache_or_skip(cache_dir: Path) -> KernelCache:
    if shutil.which("apt-get") is None or shutil.which("apt-cache") is None:
        pytest.skip("apt-get/apt-cache are not installed (not a Debian host)")
    try:
        mirror = host_debian_mirror()
        # Fills the lists the cache will use, so resolve() below needs no update.
        PrivateApt(cache_dir / "apt", mirror).update(0)
    except AptError as exc:
        pytest.skip(f"the Debian registry is not usable from this host: {exc}")
    return KernelCache(cache_dir)


@pytest.mark.virtlab
def test_the_real_registry_resolves_both_aliases(tmp_path: Path) -> None:
    cache = _real_cache_or_skip(tmp_path)
    lts = cache.resolve("6.1")
    assert re.fullmatch(r"linux-image-6\.1\.0-\d+-amd64", lts.package), lts
    assert re.fullmatch(r"6\.1\.\d+-\d+", lts.version), lts
    backport = cache.resolve("6.12")
    assert re.fullmatch(r"linux-image-6\.12\.\d+\+deb\d+-amd64", backport.package), backport
    assert "bpo" in backport.version, backport
