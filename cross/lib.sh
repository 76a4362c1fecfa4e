# Shared by cross/build, cross/test, qemu/image and qemu/run (sourced, not run): what each target needs on a Debian 12
# machine with rustup, installed only when missing so every script is idempotent and quick the second time.
# shellcheck shell=bash disable=SC2034  # the variables set here are read by the scripts that source it

# The workspace (parent of cross/).
osconfig_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Cargo with the ARM target configuration (linkers, runners, C compilers): never a top-level .cargo/.
cross_cargo=(cargo --config "$osconfig_root/cross/config.toml")

# Installs the Debian packages named that are not installed yet (one apt-get update first, only when needed).
need_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Adds a dpkg foreign architecture (arm64, armhf) once, then refreshes the package lists so <pkg>:<arch> resolves.
need_foreign_arch() {
  local arch=$1
  dpkg --print-foreign-architectures | grep -qx "$arch" && return 0
  echo "setup: dpkg --add-architecture $arch" >&2
  dpkg --add-architecture "$arch"
  apt-get -o DPkg::Lock::Timeout=300 update -qq
}

# Installs the Rust standard library of a target when rustup lacks it.
need_rust_target() {
  rustup target list --installed | grep -qx "$1" && return 0
  echo "setup: rustup target add $1" >&2
  rustup target add "$1"
}

# The toolchain of the size-optimised cross build (cross/size.toml: std compiled from source with -Zbuild-std):
# nightly Rust with the rust-src component. CI's setup installs nightly for fuzzing; rust-src is added here.
size_toolchain=nightly

# Installs the size build's toolchain (nightly, minimal profile) and its rust-src component when missing.
need_size_toolchain() {
  if ! rustup toolchain list | grep -q "^$size_toolchain-"; then
    echo "setup: rustup toolchain install $size_toolchain --profile minimal" >&2
    rustup toolchain install "$size_toolchain" --profile minimal
  fi
  if ! rustup component list --toolchain "$size_toolchain" --installed | grep -qx 'rust-src'; then
    echo "setup: rustup component add rust-src --toolchain $size_toolchain" >&2
    rustup component add rust-src --toolchain "$size_toolchain"
  fi
}

# Sets, for a supported triple: cross_prefix (the GNU cross tools' prefix, for strip/readelf), cross_sysroot (the C
# runtime the dynamically linked binaries load), cross_libc (the Debian package of that sysroot: gcc only recommends
# it), qemu_user (the user-mode emulator), cross_static (1: clients only).
# Fails for any other triple.
target_facts() {
  case "$1" in
    aarch64-unknown-linux-gnu)
      cross_prefix=aarch64-linux-gnu; cross_sysroot=/usr/aarch64-linux-gnu; qemu_user=qemu-aarch64-static
      cross_libc=libc6-dev-arm64-cross; cross_static=0 ;;
    armv7-unknown-linux-gnueabihf)
      cross_prefix=arm-linux-gnueabihf; cross_sysroot=/usr/arm-linux-gnueabihf; qemu_user=qemu-arm-static
      cross_libc=libc6-dev-armhf-cross; cross_static=0 ;;
    aarch64-unknown-linux-musl)
      cross_prefix=aarch64-linux-gnu; cross_sysroot=""; qemu_user=qemu-aarch64-static
      cross_libc=libc6-dev-arm64-cross; cross_static=1 ;;
    *)
      echo "unsupported target '$1': aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf or" \
        "aarch64-unknown-linux-musl" >&2
      return 2 ;;
  esac
}

# Everything a cross build and its user-mode tests need for one triple: the Rust target, the GNU cross compiler
# (linker, C compiler, strip, the target's glibc as a sysroot) and qemu-user-static.
need_target() {
  target_facts "$1" || return
  need_rust_target "$1"
  need_apt "gcc-$cross_prefix" "binutils-$cross_prefix" "$cross_libc" qemu-user-static
}
