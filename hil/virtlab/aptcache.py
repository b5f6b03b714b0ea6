"""A private apt state that reads the Debian registry without touching the host's apt.

The virtual lab needs kernel packages the host never installs (a backports
kernel on a stable host, say), but changing the host's sources or package
lists would change what the host itself upgrades to.  So every apt command
here runs with its own state, cache, sources and pinning (`-o Dir::...`),
pointed at the mirror the host is already configured to use: the
workplace's choice of mirror is respected and no mirror is named in code.

The host's `apt.conf.d` is still read on purpose (proxies, validity
settings); only its update hooks are cleared, because they act on the
host's package caches (PackageKit, AppStream) and a private update must not
set them off.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
COMMAND_TIMEOUT_S = 1800.0
OUTPUT_TAIL_LINES = 12

# Host hooks that would run on the host's caches after a private `apt-get update`.
HOST_HOOKS = (
    "APT::Update::Pre-Invoke",
    "APT::Update::Post-Invoke",
    "APT::Update::Post-Invoke-Success",
)


class AptError(RuntimeError):
    """An apt command failed or the host has no usable Debian source; says which and why."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    output: str

    def tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])


class CommandRunner(Protocol):
    def __call__(
        self, argv: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None
    ) -> CommandResult: ...


def run_command(
    argv: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> CommandResult:
    """Run a command with stdout and stderr merged, as apt's errors are read from either."""
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return CommandResult(-1, f"{argv[0]} did not finish in {COMMAND_TIMEOUT_S:.0f} s")
    except OSError as exc:
        return CommandResult(-1, f"cannot run {argv[0]}: {exc}")
    return CommandResult(proc.returncode, proc.stdout)


# -- the host's sources ---------------------------------------------------


@dataclass(frozen=True)
class SourceEntry:
    """One apt source as the host configured it (either file format)."""

    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None


def parse_one_line_sources(text: str) -> list[SourceEntry]:
    """`deb [opt=val ...] URI suite component...` lines (sources.list, *.list)."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        options: dict[str, str] = {}
        rest = rest.strip()
        if rest.startswith("["):
            inside, _, rest = rest[1:].partition("]")
            for token in inside.split():
                key, _, value = token.partition("=")
                options[key.lower()] = value
        words = rest.split()
        if kind not in ("deb", "deb-src") or len(words) < 2:
            continue
        entries.append(
            SourceEntry(
                types=(kind,),
                uris=(words[0],),
                suites=(words[1],),
                components=tuple(words[2:]),
                signed_by=options.get("signed-by"),
            )
        )
    return entries


def _deb822_paragraphs(text: str) -> list[dict[str, str]]:
    paragraphs: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    key: str | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                paragraphs.append(fields)
            fields, key = {}, None
        elif line[0] in " \t" and key is not None:
            fields[key] += "\n" + line.strip()
        else:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            fields[key] = value.strip()
    if fields:
        paragraphs.append(fields)
    return paragraphs


def parse_deb822_sources(text: str) -> list[SourceEntry]:
    """Paragraphs of a `*.sources` file; `Enabled: no` paragraphs are left out."""
    entries = []
    for fields in _deb822_paragraphs(text):
        if fields.get("enabled", "yes").lower() == "no":
            continue
        signed_by = fields.get("signed-by")
        entries.append(
            SourceEntry(
                types=tuple(fields.get("types", "").split()),
                uris=tuple(fields.get("uris", "").split()),
                suites=tuple(fields.get("suites", "").split()),
                components=tuple(fields.get("components", "").split()),
                # A multi-line value is an inline key, not a keyring path.
                signed_by=signed_by if signed_by and "\n" not in signed_by else None,
            )
        )
    return entries


def read_host_sources(etc_apt: Path = Path("/etc/apt")) -> list[SourceEntry]:
    files = [etc_apt / "sources.list"]
    parts = etc_apt / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    entries: list[SourceEntry] = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        parse = parse_deb822_sources if path.suffix == ".sources" else parse_one_line_sources
        entries += parse(text)
    return entries


def host_codename(os_release: Path = Path("/etc/os-release")) -> str:
    try:
        text = os_release.read_text()
    except OSError as exc:
        raise AptError(f"cannot read {os_release} to learn the host's codename: {exc}") from exc
    match = re.search(r"^VERSION_CODENAME=\"?([^\"\n]*)\"?$", text, re.MULTILINE)
    if not match or not match.group(1):
        raise AptError(f"{os_release} has no VERSION_CODENAME; is this host Debian?")
    return match.group(1)


@dataclass(frozen=True)
class DebianMirror:
    """Where the host gets its Debian packages from, reduced to what the lab needs."""

    codename: str
    uri: str
    signed_by: str | None
    security_uri: str | None = None
    security_signed_by: str | None = None

    def sources_list(self) -> str:
        """The private sources: the release, its backports and (if the host has it) security.

        Security is kept when the host has it because Debian's stable kernel
        updates are published there first; without it the private stable
        kernel would lag behind the one a Debian host installs.
        """

        def line(uri: str, suite: str, signed_by: str | None) -> str:
            opts = f"[signed-by={signed_by}] " if signed_by else ""
            return f"deb {opts}{uri} {suite} main\n"

        text = line(self.uri, self.codename, self.signed_by)
        text += line(self.uri, f"{self.codename}-backports", self.signed_by)
        if self.security_uri:
            text += line(self.security_uri, f"{self.codename}-security", self.security_signed_by)
        return text


def _keyring(entry: SourceEntry) -> str | None:
    if entry.signed_by and entry.signed_by.startswith("/"):
        return entry.signed_by
    return DEBIAN_KEYRING if Path(DEBIAN_KEYRING).exists() else None


def _entry_for(entries: Sequence[SourceEntry], suite: str) -> SourceEntry | None:
    for entry in entries:
        wanted = "deb" in entry.types and suite in entry.suites and "main" in entry.components
        if wanted and entry.uris:
            return entry
    return None


def find_debian_mirror(entries: Sequence[SourceEntry], codename: str) -> DebianMirror:
    main = _entry_for(entries, codename)
    if main is None:
        raise AptError(
            f"the host's apt sources have no 'deb' entry for suite '{codename}' with component "
            "'main'; the virtual lab takes Debian kernels from the host's own Debian mirror"
        )
    security = _entry_for(entries, f"{codename}-security")
    return DebianMirror(
        codename=codename,
        uri=main.uris[0],
        signed_by=_keyring(main),
        security_uri=security.uris[0] if security else None,
        security_signed_by=_keyring(security) if security else None,
    )


def host_debian_mirror() -> DebianMirror:
    return find_debian_mirror(read_host_sources(), host_codename())


# -- apt-cache / apt-get output --------------------------------------------


def parse_depends(output: str) -> list[str]:
    """Package names of the `Depends:` lines of `apt-cache depends` (virtual `<x>` unwrapped)."""
    names = re.findall(r"^\s*\|?Depends:\s*(\S+)", output, re.MULTILINE)
    return [name.strip("<>") for name in names]


def parse_candidate(output: str) -> str | None:
    match = re.search(r"^\s*Candidate:\s*(\S+)", output, re.MULTILINE)
    if not match or match.group(1) == "(none)":
        return None
    return match.group(1)


def update_failed(result: CommandResult) -> bool:
    """apt-get update exits 0 when a fetch failed and old lists were kept: read its warnings."""
    if result.returncode != 0:
        return True
    return bool(re.search(r"^(W: Failed to fetch|E: |W: Some index files)", result.output, re.M))


# -- the private state -----------------------------------------------------


class PrivateApt:
    """apt-get/apt-cache bound to one private state folder and one mirror."""

    def __init__(
        self,
        state_dir: Path,
        mirror: DebianMirror,
        runner: CommandRunner = run_command,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dir = state_dir
        self.mirror = mirror
        self.runner = runner
        self.clock = clock
        self._stamp = state_dir / "last-update"

    def _prepare(self) -> None:
        for sub in ("state/lists/partial", "cache/archives/partial", "empty.d"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "status").touch()
        (self.dir / "sources.list").write_text(self.mirror.sources_list())
        main = "".join(f"#clear {hook};\n" for hook in HOST_HOOKS)
        if Path("/etc/apt/apt.conf").exists():
            main = '#include "/etc/apt/apt.conf";\n' + main
        (self.dir / "main.conf").write_text(main)
        # APT_CONFIG is read before apt.conf.d; naming our main file there makes
        # it the last one read, so its #clear lines win over the host's hooks.
        (self.dir / "apt.conf").write_text(f'Dir::Etc::Main "{self.dir / "main.conf"}";\n')

    def _options(self) -> list[str]:
        empty = self.dir / "empty.d"
        opts: dict[str, object] = {
            "Dir::State": self.dir / "state",
            "Dir::State::status": self.dir / "status",
            "Dir::Cache": self.dir / "cache",
            "Dir::Etc::SourceList": self.dir / "sources.list",
            "Dir::Etc::SourceParts": empty,
            "Dir::Etc::Preferences": self.dir / "preferences",
            "Dir::Etc::PreferencesParts": empty,
        }
        if os.geteuid() == 0:
            # Our folders are private to root, so the _apt sandbox user could
            # not write them anyway; saying so avoids apt's fallback warning.
            opts["APT::Sandbox::User"] = "root"
        return [arg for key, value in opts.items() for arg in ("-o", f"{key}={value}")]

    def _run(self, argv: Sequence[str], cwd: Path | None = None) -> CommandResult:
        env = {"APT_CONFIG": str(self.dir / "apt.conf"), "LC_ALL": "C"}
        return self.runner([argv[0], *self._options(), *argv[1:]], cwd=cwd, env=env)

    def update(self, max_age_s: float) -> None:
        """Refresh the private package lists unless they are younger than `max_age_s`."""
        self._prepare()
        try:
            if self.clock() - self._stamp.stat().st_mtime < max_age_s:
                return
        except OSError:
            pass
        result = self._run(["apt-get", "update"])
        if update_failed(result):
            raise AptError(f"apt-get update (private state {self.dir}) failed:\n{result.tail()}")
        self._stamp.touch()
        now = self.clock()
        os.utime(self._stamp, (now, now))

    def depends(self, package: str, target_release: str | None = None) -> list[str]:
        target = ["-t", target_release] if target_release else []
        result = self._run(["apt-cache", *target, "depends", package])
        if result.returncode != 0:
            raise AptError(f"apt-cache depends {package} failed:\n{result.tail()}")
        return parse_depends(result.output)

    def candidate_version(self, package: str, target_release: str | None = None) -> str:
        target = ["-t", target_release] if target_release else []
        result = self._run(["apt-cache", *target, "policy", package])
        version = parse_candidate(result.output) if result.returncode == 0 else None
        if version is None:
            raise AptError(f"the Debian registry offers no version of {package}:\n{result.tail()}")
        return version

    def download(self, package: str, version: str, dest: Path) -> Path:
        """Fetch one .deb into `dest` (apt-get download writes into its working folder)."""
        result = self._run(["apt-get", "download", f"{package}={version}"], cwd=dest)
        debs = sorted(dest.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not debs:
            raise AptError(f"apt-get download {package}={version} failed:\n{result.tail()}")
        return debs[0]
