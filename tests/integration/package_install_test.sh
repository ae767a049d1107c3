#!/usr/bin/env bash
# The packages as IT installs them: scripts/package builds medic-agent, medic-collector and
# medic-cli twice (VERSION and a higher one); they are installed into a fresh root without
# network: an overlay whose lower layer is this machine's root (so nothing is downloaded),
# in a private mount namespace, entered with chroot. Checks files, the medic user, the state
# directory, units (systemd-analyze verify), that nothing was started, that an upgrade keeps
# the config and the agent's identity, and that remove and purge clean up.
# Needs root (mount, chroot); exits 77 (skipped) otherwise.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { local what=$1; shift; "$@" || fail "$what"; echo "ok: $what"; }

# In the private mount namespace: the overlay root, install, upgrade, remove, purge.
inside() {
  mkdir -p "$work/layers" "$work/root"
  # The upper layer holds what dpkg writes: during the upgrade both versions' files at once,
  # plus dpkg's own database. Sized from the packages, since a sanitized build's binaries are
  # several times the size of a normal one's.
  local kb=0 deb
  for deb in "$work"/v1/*.deb; do
    kb=$((kb + $(dpkg-deb -f "$deb" Installed-Size)))
  done
  mount -t tmpfs -o size=$((2 * kb / 1024 + 256))m tmpfs "$work/layers"
  mkdir -p "$work/layers/upper" "$work/layers/work"
  mount -t overlay overlay \
    -o "lowerdir=/,upperdir=$work/layers/upper,workdir=$work/layers/work" "$work/root"
  R=$work/root
  mount -t proc proc "$R/proc"
  mount --rbind /dev "$R/dev"
  # A fresh /run and /tmp: no systemd running there, as in an image build.
  mount -t tmpfs tmpfs "$R/run"
  mount -t tmpfs tmpfs "$R/tmp"
  mkdir -p "$R/tmp/debs"
  cp "$work"/v1/*.deb "$R/tmp/debs/"
  in_root() { chroot "$R" sh -c "$*"; }  # globs expand inside the root
  status() { chroot "$R" dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true; }

  check "no medic user in the fresh root before" test -z "$(chroot "$R" getent passwd medic)"
  in_root dpkg -i /tmp/debs/medic-agent_*.deb /tmp/debs/medic-collector_*.deb \
    /tmp/debs/medic-cli_*.deb
  local p f
  for p in medic-agent medic-collector medic-cli; do
    check "$p $v1 installed" test "$(status $p)" = "install ok installed $v1"
  done
  for f in /usr/bin/medic-agent /usr/bin/medic-collector /usr/bin/medic /etc/medic/agent.yaml \
           /etc/medic/collector.yaml /lib/systemd/system/medic-agent.service \
           /lib/systemd/system/medic-collector.service; do
    check "$f is there" test -f "$R$f"
  done
  check "/etc/medic/agent.d is there for drop-ins" test -d "$R/etc/medic/agent.d"
  local user
  user=$(chroot "$R" getent passwd medic)
  check "medic is a user without a login shell ($user)" test "${user##*:}" = /usr/sbin/nologin
  local uid
  uid=$(chroot "$R" id -u medic)
  check "medic has a system uid ($uid)" test "$uid" -lt 1000
  check "/var/lib/medic belongs to medic, mode 750" \
    test "$(chroot "$R" stat -c %U:%G:%a /var/lib/medic)" = medic:medic:750
  for f in medic-agent medic-collector; do
    check "$f.service is enabled for the next boot" \
      test -L "$R/etc/systemd/system/multi-user.target.wants/$f.service"
  done
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ]; then
      fail "a process was started inside the root during install: $(tr '\0' ' ' <"$p/cmdline")"
    fi
  done
  echo "ok: nothing was started inside the root"
  local out
  out=$(chroot "$R" systemd-analyze verify /lib/systemd/system/medic-agent.service \
          /lib/systemd/system/medic-collector.service 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify is not clean: $out"
  echo "ok: systemd-analyze verify is clean"
  out=$(chroot "$R" env -u MEDIC_BUILD medic-agent --print-config)
  check "the installed agent runs (--print-config)" grep -q 'state_dir: "/var/lib/medic"' <<<"$out"

  # The agent makes its identity as the medic user, in the state directory.
  chroot --userspec=medic:medic "$R" timeout 3 medic-agent --collector 127.0.0.1:1 \
    >/dev/null 2>&1 || true
  local id1
  id1=$(cat "$R/var/lib/medic/machine-id") || fail "the agent made no identity in /var/lib/medic"
  echo "ok: agent identity $id1 made as medic"
  # IT configures the machine: the main file and a drop-in.
  echo "site: upgrade-keeps-this" >>"$R/etc/medic/agent.yaml"
  printf 'collector: collector.corp:7070\nlabels: [ou-test]\n' \
    >"$R/etc/medic/agent.d/50-gpo.yaml"

  cp "$work"/v2/*.deb "$R/tmp/debs/"
  in_root dpkg -i "/tmp/debs/medic-agent_${v2}_*.deb" "/tmp/debs/medic-collector_${v2}_*.deb" \
    "/tmp/debs/medic-cli_${v2}_*.deb"
  for p in medic-agent medic-collector medic-cli; do
    check "$p upgraded to $v2" test "$(status $p)" = "install ok installed $v2"
  done
  check "the upgrade kept the agent identity" test "$(cat "$R/var/lib/medic/machine-id")" = "$id1"
  check "the upgrade kept the edited agent.yaml" grep -q upgrade-keeps-this "$R/etc/medic/agent.yaml"
  check "the upgrade kept the drop-in" test -f "$R/etc/medic/agent.d/50-gpo.yaml"
  out=$(chroot "$R" env -u MEDIC_BUILD medic-agent --print-config)
  check "the upgraded agent reads the main file" \
    grep -q 'site: "upgrade-keeps-this"  # /etc/medic/agent.yaml:' <<<"$out"
  check "... and the drop-in" \
    grep -q 'collector: "collector.corp:7070"  # /etc/medic/agent.d/50-gpo.yaml:1' <<<"$out"
  check "the upgrade left the agent enabled" \
    test -L "$R/etc/systemd/system/multi-user.target.wants/medic-agent.service"

  in_root dpkg -r medic-agent medic-collector medic-cli
  check "remove takes the programs" test ! -e "$R/usr/bin/medic-agent" -a ! -e "$R/usr/bin/medic"
  check "remove keeps the config" test -f "$R/etc/medic/agent.yaml"
  check "remove keeps the identity" test -f "$R/var/lib/medic/machine-id"
  in_root dpkg -P medic-agent medic-collector medic-cli
  check "purge takes the config" test ! -e "$R/etc/medic/agent.yaml" -a ! -e "$R/etc/medic/collector.yaml"
  check "purge takes the identity" test ! -e "$R/var/lib/medic/machine-id"
  check "purge takes the unit links" \
    test ! -e "$R/etc/systemd/system/multi-user.target.wants/medic-agent.service"
  out=$(chroot "$R" dpkg --audit)
  [ -z "$out" ] || fail "dpkg --audit: $out"
  echo "ok: dpkg --audit is clean"
}

if [ "${1:-}" = --inside ]; then
  inside
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: the install test mounts an overlay and chroots into it: run it as root"
  exit 77
fi
: "${MEDIC_BUILD:?set MEDIC_BUILD to the build directory}"
MEDIC_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
base=$(sed -n 's/^project(medic VERSION \([0-9.]*\).*/\1/p' "$MEDIC_ROOT/CMakeLists.txt")
v1="$base-1"
v2="$base-2"

work=$(mktemp -d /tmp/medic-pkg-test.XXXXXX)
cleanup() {
  umount -R "$work/root" 2>/dev/null || true
  umount "$work/layers" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

MEDIC_BUILD=$MEDIC_BUILD "$MEDIC_ROOT/scripts/package" --no-build --version "$v1" --out "$work/v1"
MEDIC_BUILD=$MEDIC_BUILD "$MEDIC_ROOT/scripts/package" --no-build --version "$v2" --out "$work/v2"
for p in medic-agent medic-collector medic-cli; do
  [ -f "$work/v1/${p}_${v1}_$(dpkg --print-architecture).deb" ] || fail "$p was not built"
done
deps=$(dpkg-deb -f "$work/v1"/medic-agent_*.deb Depends)
check "medic-agent depends on the shared libraries it links (shlibdeps): $deps" \
  grep -q "libgrpc++" <<<"$deps"
check "medic-agent declares its conffile" \
  grep -qx /etc/medic/agent.yaml <(dpkg-deb -I "$work/v1"/medic-agent_*.deb conffiles)

# Everything below runs in a private mount namespace (this script again, with --inside): the
# mounts vanish with it.
export work v1 v2
unshare --mount --propagation private bash "$0" --inside
echo "PASS"
