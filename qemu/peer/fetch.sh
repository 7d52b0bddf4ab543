#!/usr/bin/env bash
# Fetches the peer Linux (Debian's arm64 cloud kernel) and a static busybox into target/peer/:
# `apt-get download` of pinned versions against a private apt state whose only architecture is
# arm64 (nothing is installed on the host, no `dpkg --add-architecture`), then `dpkg -x`.
# Debian keeps only the newest build of a package: when a pin has gone, it warns and takes what
# the metapackage points to now. The versions used go to target/peer/versions.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The pins (those of shared/peer-linux, so the two baselines are one kernel).
kernel=linux-image-6.1.0-56-cloud-arm64 kernel_ver=6.1.192-2 kernel_meta=linux-image-cloud-arm64
busybox=busybox-static busybox_ver=1:1.35.0-4+deb12u1+b1
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

out=$PWD/target/peer apt=$PWD/target/peer/apt debs=$PWD/target/peer/debs
mkdir -p "$apt"/{lists/partial,cache/archives/partial,parts,prefs} "$debs"
: > "$apt/status"
cat > "$apt/sources.list" <<SRC
deb [arch=arm64 signed-by=$keyring] $mirror bookworm main
deb [arch=arm64 signed-by=$keyring] $mirror bookworm-updates main
deb [arch=arm64 signed-by=$keyring] $security bookworm-security main
SRC
opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
      -o "Dir::Etc::Parts=$apt/parts" -o "Dir::Etc::PreferencesParts=$apt/prefs"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::State::status=$apt/status" -o "Dir::Cache=$apt/cache"
      -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
      -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")

updated=0
update() { # the private lists, once
    [ $updated = 1 ] && return
    echo "peer: apt-get update (arm64 lists in $apt)"
    apt-get -qq "${opts[@]}" update
    updated=1
}
get() { (cd "$debs" && apt-get -qq "${opts[@]}" download "$1=$2" >/dev/null); }
candidate() { apt-cache "${opts[@]}" policy "$1" | awk '/Candidate:/ { print $2 }'; }

if ! ls "$debs/${kernel}_"*.deb >/dev/null 2>&1; then
    update
    echo "peer: downloading $kernel=$kernel_ver"
    if ! get "$kernel" "$kernel_ver"; then
        kernel=$(apt-cache "${opts[@]}" depends "$kernel_meta" | awk '/Depends: linux-image-/ { print $2; exit }')
        echo "peer: WARNING: the pinned $kernel_ver is gone from the archive; falling back to" \
             "$kernel=$(candidate "$kernel") (not comparable 1:1 with figures from the pin)" >&2
        get "$kernel" "$(candidate "$kernel")"
    fi
fi
if ! ls "$debs/${busybox}_"*.deb >/dev/null 2>&1; then
    update
    echo "peer: downloading $busybox=$busybox_ver"
    if ! get "$busybox" "$busybox_ver"; then
        echo "peer: WARNING: the pinned $busybox=$busybox_ver is gone; taking $(candidate "$busybox")" >&2
        get "$busybox" "$(candidate "$busybox")"
    fi
fi

# Unpack (dpkg -x only extracts: nothing is configured or installed).
kdeb=$(ls "$debs/${kernel}_"*.deb | head -1)
bdeb=$(ls "$debs/${busybox}_"*.deb | head -1)
rm -rf "$out/x" && mkdir -p "$out/x/kernel" "$out/x/busybox"
dpkg -x "$kdeb" "$out/x/kernel"
dpkg -x "$bdeb" "$out/x/busybox"
for deb in "$kdeb" "$bdeb"; do
    echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) sha256=$(sha256sum "$deb" | cut -d' ' -f1)"
done > "$out/versions"
sed 's/^/peer: using /' "$out/versions"
