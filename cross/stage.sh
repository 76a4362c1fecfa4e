#!/usr/bin/env bash
# Builds the release binaries and modules and lays them out under <out> as they are installed on a device:
#   <out>/usr/bin/osconfig-platform, <out>/usr/bin/osconfigctl
#   <out>/usr/lib/osconfig/osconfig-modulehost and <out>/usr/lib/osconfig/<name>.so for each module
#   <out>/etc/osconfig/osconfig.json: the embedded default (local management, no cloud), unless one is there
# Then `<out>/usr/bin/osconfig-platform --root <out> --foreground` runs the platform on that tree.
#
# usage: cross/stage.sh <out> [--target <rust target triple>]   (default: this machine's target)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: cross/stage.sh <out> [--target <triple>]}
shift
target_args=()
build_dir="$here/target/release"
if [ "${1:-}" = "--target" ]; then
  target_args=(--target "${2:?--target needs a triple}")
  build_dir="$here/target/$2/release"
fi
modules=(deviceinfo hostname commandrunner configuration)

packages=(-p osconfig-platform -p osconfig-modulehost -p osconfig-cli)
for m in "${modules[@]}"; do packages+=(-p "osconfig-$m"); done
(cd "$here" && cargo build --release --locked "${target_args[@]}" "${packages[@]}")

mkdir -p "$out/usr/bin" "$out/usr/lib/osconfig" "$out/etc/osconfig"
install -m 0755 "$build_dir/osconfig-platform" "$build_dir/osconfigctl" "$out/usr/bin/"
install -m 0755 "$build_dir/osconfig-modulehost" "$out/usr/lib/osconfig/"
for m in "${modules[@]}"; do
  install -m 0644 "$build_dir/lib$m.so" "$out/usr/lib/osconfig/$m.so"
done
# A native demo tree reports this machine's OS: give it the machine's os-release (a device image has its own).
if [ ${#target_args[@]} -eq 0 ] && [ ! -e "$out/etc/os-release" ] && [ -e /etc/os-release ]; then
  cp /etc/os-release "$out/etc/os-release"
fi
if [ ! -e "$out/etc/osconfig/osconfig.json" ]; then
  install -m 0644 "$here/meta-osconfig/recipes-osconfig/osconfig/files/osconfig.json" "$out/etc/osconfig/osconfig.json"
fi
echo "staged into $out; run: $out/usr/bin/osconfig-platform --root $out --foreground"
