# Shared by scripts/demo and scripts/test: install what is missing, build once.
# Sourced, not run.

MEDIC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MEDIC_BUILD=${MEDIC_BUILD:-$MEDIC_ROOT/build}

# Debian 12 packages the build and the tests need, in one list for one apt-get call.
MEDIC_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev libabsl-dev
  libboost1.81-dev libfmt-dev libspdlog-dev libyaml-cpp-dev libcli11-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev openssl zlib1g-dev
  nftables dnsmasq-base iputils-ping iproute2 util-linux
  libcups2-dev cups cups-client cups-ipp-utils dbus-daemon
  postgresql libpq-dev
  chromium
  dpkg-dev systemd adduser
)

# ccache keyed on paths relative to the checkout, so another clone of the same code hits.
export CCACHE_BASEDIR=$MEDIC_ROOT CCACHE_NOHASHDIR=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the packages that are not installed yet, in a single apt-get call.
medic_install_packages() {
  local missing=()
  for p in "${MEDIC_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} — run as root, or install them: apt-get install ${missing[*]}"
  say "installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed: check the machine's package sources"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
}

# Configures (once) and builds everything into $MEDIC_BUILD.
medic_build() {
  local jobs
  jobs=$(nproc)
  if [ ! -f "$MEDIC_BUILD/build.ninja" ]; then
    say "configuring in $MEDIC_BUILD"
    cmake -S "$MEDIC_ROOT" -B "$MEDIC_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "$@" >/dev/null || die "cmake configure failed (run it by hand to see why: cmake -S $MEDIC_ROOT -B $MEDIC_BUILD -G Ninja)"
  fi
  say "building (ccache: $(command -v ccache >/dev/null && echo on || echo off), $jobs jobs)"
  local start=$SECONDS
  cmake --build "$MEDIC_BUILD" -j "$jobs" || die "build failed"
  say "built in $((SECONDS - start))s"
}
