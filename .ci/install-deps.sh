#!/bin/bash
# Install everything the build, the guest and the tests need on a fresh
# Debian 12 machine.  Idempotent: a second run installs nothing.
#
# Mirrors have been seen serving a foreign-architecture index of one suite
# with the wrong size ("Mirror sync in progress?"); apt then drops that whole
# suite, and with it packages such as linux-source-6.12 that only the
# security suite carries.  So host packages are installed through a copy of
# the machine's own apt sources restricted to the native architecture, and
# the armhf guest packages are only downloaded afterwards, with retries.
set -u
export DEBIAN_FRONTEND=noninteractive

APT_PKGS="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross binutils-arm-linux-gnueabihf
qemu-system-arm qemu-user bc bison flex libssl-dev libelf-dev cpio kmod xz-utils file
linux-source-6.12 linux-source-6.1 clang libclang-rt-14-dev llvm make perl python3-pip python3-venv
gzip patch git strace linux-perf openssh-client openssh-server
chrpath diffstat gawk locales acl zstd
dpkg-dev libglib2.0-dev pkg-config
shellcheck"
# Buildroot's utils/check-package runs shellcheck on br2-external/'s scripts (tests/buildroot).
# The guest's programs; dropbear and its libraries are the board flavour's SSH server.
GUEST_DEBS="busybox-static:armhf hello:armhf strace:armhf util-linux:armhf rt-tests:armhf libnuma1:armhf
	dropbear-bin:armhf libcrypt1:armhf libtomcrypt1:armhf libtommath1:armhf libgmp10:armhf zlib1g:armhf"
CACHE="${SORTO_CACHE:-$HOME/.cache/sorto}"
NATIVE="$(dpkg --print-architecture)"

# Write the machine's apt sources to $1, every entry limited to arches $2.
restricted_sources() {
	python3 - "$1" "$2" <<'EOF'
import glob, os, re, sys
out, arches = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
lines = []
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    if os.path.isfile(f):
        for ln in open(f):
            m = re.match(r"^\s*(deb|deb-src)\s+(\[[^]]*\]\s+)?(.*)$", ln)
            if m and m.group(1) == "deb":
                opts = re.sub(r"\barch=\S+", "", (m.group(2) or "").strip("[] \n"))
                lines.append(f"deb [{opts} arch={arches.replace(' ', ',')}] {m.group(3)}\n")
with open(os.path.join(out, "sorto.list"), "w") as fh:
    fh.writelines(lines)
n = 0
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    stanzas = open(f).read().split("\n\n")
    fixed = []
    for s in stanzas:
        if not s.strip():
            continue
        s = "\n".join(ln for ln in s.splitlines() if not ln.lower().startswith("architectures:"))
        fixed.append(s + f"\nArchitectures: {arches}\n")
    n += 1
    with open(os.path.join(out, f"sorto{n}.sources"), "w") as fh:
        fh.write("\n".join(fixed))
EOF
}

# Write $1, a deb-src entry for each of the machine's own Debian entries (same
# mirror, this release's suites, same components), unless the machine has a
# deb-src entry already; rewritten only when its content changes.  The QEMU
# plugins are built against the plugin header of Debian's qemu source package
# (scripts/sorto/plugins/build.py: apt-get source qemu=VERSION).
deb_src_sources() {
	python3 - "$1" <<'EOF'
import glob, re, sys
codename = ""
for ln in open("/etc/os-release"):
    if ln.startswith("VERSION_CODENAME="):
        codename = ln.split("=", 1)[1].strip().strip('"')
if not codename:
    sys.exit("install-deps: no VERSION_CODENAME in /etc/os-release")
ours = sys.argv[1]
entries = []  # (uris, suites, components, signed-by)
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(f).read().splitlines()
    except OSError:
        continue
    for ln in lines:
        m = re.match(r"^\s*(deb|deb-src)\s+(\[([^]]*)\]\s+)?(\S+)\s+(\S+)\s+([^#]*)", ln)
        if not m:
            continue
        if m.group(1) == "deb-src":
            sys.exit(0)
        signed = re.search(r"\bsigned-by=(\S+)", m.group(3) or "")
        entries.append((m.group(4), m.group(5), m.group(6).strip(), signed.group(1) if signed else ""))
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    if f == ours:
        continue
    for stanza in open(f).read().split("\n\n"):
        fields = {}
        for ln in stanza.splitlines():
            if ":" in ln and not ln.startswith((" ", "\t", "#")):
                k, v = ln.split(":", 1)
                fields[k.strip().lower()] = v.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        types = fields.get("types", "").split()
        if "deb-src" in types:
            sys.exit(0)
        if "deb" in types:
            entries.append((fields.get("uris", ""), fields.get("suites", ""), fields.get("components", ""),
                            fields.get("signed-by", "")))
stanzas = []
for uris, suites, comps, signed in entries:
    mine = [s for s in suites.split() if s == codename or s.startswith((codename + "-", codename + "/"))]
    if uris and mine and comps:
        st = f"Types: deb-src\nURIs: {uris}\nSuites: {' '.join(mine)}\nComponents: {comps}\n"
        stanzas.append(st + (f"Signed-By: {signed}\n" if signed else ""))
if not stanzas:
    sys.exit(f"install-deps: no Debian {codename} entry in the apt sources to derive a deb-src entry from")
text = "# meta-sorto .ci/install-deps.sh: Debian's source packages (the QEMU plugin header)\n"
text += "\n".join(stanzas)
try:
    if open(ours).read() == text:
        sys.exit(0)
except OSError:
    pass
with open(ours, "w") as fh:
    fh.write(text)
EOF
}

apt_with() {
	local dir="$1"
	shift
	apt-get -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$dir" "$@"
}

# Run "apt-get CMD..." through the machine's sources restricted to ARCHES,
# refreshing the lists before each of up to four tries.
apt_retry() {
	local arches="$1" src ok=0 i
	shift
	src="$(mktemp -d)"
	restricted_sources "$src" "$arches"
	for i in 1 2 3 4; do
		apt_with "$src" update -q || true
		if apt_with "$src" "$@"; then
			ok=1
			break
		fi
		sleep $((i * 10))
	done
	rm -rf "$src"
	[ "$ok" = 1 ] || { echo "install-deps: apt-get $* failed" >&2; exit 1; }
}

missing=""
for p in $APT_PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# shellcheck disable=SC2086
[ -z "$missing" ] || apt_retry "$NATIVE" install -y -q --no-install-recommends $APT_PKGS

# Debian's qemu sources, for the plugin header: a deb-src entry (unless the
# machine has one) and its index.
deb_src_sources /etc/apt/sources.list.d/sorto-src.sources || exit 1
if [ -z "$(apt-cache showsrc qemu 2>/dev/null)" ]; then
	apt_retry "$NATIVE" update -q
	[ -n "$(apt-cache showsrc qemu 2>/dev/null)" ] || { echo "install-deps: no source index for qemu" >&2; exit 1; }
fi

# BitBake (tests/layer, real parses of the layer) wants the en_US.UTF-8 locale;
# chrpath, diffstat and gawk above are host tools its sanity check asks for,
# zstd reads its signature files, acl gives its unprivileged user a way through root's 0700 home to the cache.
if ! locale -a 2>/dev/null | grep -qix 'en_US.utf8'; then
	sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' /etc/locale.gen
	grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' >>/etc/locale.gen
	locale-gen
fi

# armhf packages for the guest: downloaded, never installed on the host.
dpkg --print-foreign-architectures | grep -qx armhf || dpkg --add-architecture armhf
mkdir -p "$CACHE/guest/debs"
missing=""
for deb in $GUEST_DEBS; do
	ls "$CACHE/guest/debs/${deb%%:*}"_*_armhf.deb >/dev/null 2>&1 || missing="$missing $deb"
done
# shellcheck disable=SC2086
[ -z "$missing" ] || (cd "$CACHE/guest/debs" && apt_retry "$NATIVE armhf" download $missing)
exit 0
