#!/usr/bin/env bash
# Builds the release binaries and modules and lays them out under <out> as they are installed on a device, with
# cross/install.sh (which lists every file and mode):
#   <out>/usr/bin/osconfig-platform, <out>/usr/bin/osconfigctl
#   <out>/usr/lib/osconfig/osconfig-modulehost, <out>/usr/lib/osconfig/<name>.so and mim/<name>.json for each module
#   <out>/etc/osconfig/osconfig.json: the embedded default (local management, no cloud), unless one is there
#   <out>/lib/systemd/system/osconfig-platform.service
# Then `<out>/usr/bin/osconfig-platform --root <out> --foreground` runs the platform on that tree.
#
# usage: cross/stage.sh <out> [--target <rust target triple>]   (default: this machine's target)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: cross/stage.sh <out> [--target <triple>]}
shift
# cargo's output directory: $CARGO_TARGET_DIR when set (relative to the workspace, where cargo runs), else target/.
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$here/$target_dir" ;; esac
target_args=()
build_dir="$target_dir/release"
if [ "${1:-}" = "--target" ]; then
  target_args=(--target "${2:?--target needs a triple}")
  build_dir="$target_dir/$2/release"
fi
modules=(deviceinfo hostname commandrunner configuration)

packages=(-p osconfig-platform -p osconfig-modulehost -p osconfig-cli)
for m in "${modules[@]}"; do packages+=(-p "osconfig-$m"); done
(cd "$here" && cargo build --release --locked "${target_args[@]}" "${packages[@]}")

"$here/cross/install.sh" "$out" --build-dir "$build_dir"
# A native demo tree reports this machine's OS: give it the machine's os-release (a device image has its own).
if [ ${#target_args[@]} -eq 0 ] && [ ! -e "$out/etc/os-release" ] && [ -e /etc/os-release ]; then
  cp /etc/os-release "$out/etc/os-release"
fi
echo "staged into $out; run: $out/usr/bin/osconfig-platform --root $out --foreground"
echo "local management: write $out/etc/osconfig/osconfig_desired.json, read $out/etc/osconfig/osconfig_reported.json"
