#!/usr/bin/env bash
# Installs built osconfig-rs binaries, modules and data under <destdir> as a device has them. The one install step of
# the project: cross/stage.sh, the Yocto recipe's do_install and the QEMU images all call it.
#
# usage: cross/install.sh <destdir> [--build-dir <dir>] [--unit-dir <dir>] [--with-agent]
#   --with-agent also the IoT Hub agent `osconfig` and its unit (built only where the Azure IoT C SDK is: see
#                src/azure-iot-sdk-sys/README.md); without it, a device is managed locally only
#   --build-dir  cargo's output directory holding the binaries and lib<name>.so (default: target/release)
#   --unit-dir   systemd system unit directory under <destdir> (default: lib/systemd/system; Yocto passes
#                ${systemd_system_unitdir}, e.g. usr/lib/systemd/system with usrmerge)
#
# Installs (owned by whoever runs it: root on a device, pseudo's root under Yocto; directories 0755):
#   usr/bin/osconfig-platform                                        0755  the multi-call executable: also the module
#                                                                          host and osconfigctl, by the name started under
#   usr/bin/osconfigctl -> osconfig-platform                         symbolic links to it (BENCHMARKS.md, "Flash
#   usr/lib/osconfig/osconfig-modulehost -> ../../bin/osconfig-platform   footprint": one copy of std, HTTP, serde_json)
#   usr/lib/osconfig/<name>.so            (from lib<name>.so)        0644  dlopen()ed, never executed
#   usr/lib/osconfig/mim/<name>.json      (src/modules/<name>/mim/)  0644
#   etc/osconfig/osconfig.json            (the default: local management, no cloud; 0644, no secrets in it)
#                                         only when absent: a device's own configuration is never overwritten
#   <unit-dir>/osconfig-platform.service  (src/platform/systemd/)    0644
# and with --with-agent:
#   usr/bin/osconfig                                                 0755  the IoT Hub agent
#   <unit-dir>/osconfig.service           (src/agent/systemd/)       0644  (it exits 0 while osconfig.json has
#                                                                          IotHubManagement 0, the default)
# /run/osconfig and /var/lib/osconfig are made at run time (systemd's RuntimeDirectory=/StateDirectory=, or the
# platform itself), so no tmpfiles.d entry is installed. Running it again gives the same tree.
set -euo pipefail
umask 022

usage="usage: cross/install.sh <destdir> [--build-dir <dir>] [--unit-dir <dir>] [--with-agent]"
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:?$usage}
shift
build_dir="$here/target/release"
unit_dir="lib/systemd/system"
with_agent=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --unit-dir) unit_dir=${2:?--unit-dir needs a directory}; shift 2 ;;
    --with-agent) with_agent=1; shift ;;
    *) echo "install.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
done
unit_dir=${unit_dir#/}

modules=(deviceinfo hostname commandrunner configuration)
# The standalone osconfigctl and osconfig-modulehost binaries of the build are not installed: osconfig-platform is
# both (its main.rs dispatches on argv[0]).
binaries=(osconfig-platform)
[ "$with_agent" = 1 ] && binaries+=(osconfig)

missing=()
for b in "${binaries[@]}"; do [ -f "$build_dir/$b" ] || missing+=("$build_dir/$b"); done
for m in "${modules[@]}"; do
  [ -f "$build_dir/lib$m.so" ] || missing+=("$build_dir/lib$m.so")
  [ -f "$here/src/modules/$m/mim/$m.json" ] || missing+=("$here/src/modules/$m/mim/$m.json")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: not built or missing: ${missing[*]}" >&2
  exit 1
fi

# Shared directories (/usr/bin, /etc, the unit directory) are made when missing (0755 with the umask above) and
# otherwise left as they are; the project's own directories get their mode set.
mkdir -p "$dest/usr/bin" "$dest/usr/lib" "$dest/etc" "$dest/$unit_dir"
install -d -m 0755 "$dest/usr/lib/osconfig" "$dest/usr/lib/osconfig/mim" "$dest/etc/osconfig"

install -m 0755 "$build_dir/osconfig-platform" "$dest/usr/bin/"
# -f -n: replaces a file or link of an earlier install (a tree from before the multi-call executable) in place.
ln -sfn osconfig-platform "$dest/usr/bin/osconfigctl"
ln -sfn ../../bin/osconfig-platform "$dest/usr/lib/osconfig/osconfig-modulehost"
for m in "${modules[@]}"; do
  install -m 0644 "$build_dir/lib$m.so" "$dest/usr/lib/osconfig/$m.so"
  install -m 0644 "$here/src/modules/$m/mim/$m.json" "$dest/usr/lib/osconfig/mim/$m.json"
done
if [ ! -e "$dest/etc/osconfig/osconfig.json" ]; then
  install -m 0644 "$here/meta-osconfig/recipes-osconfig/osconfig/files/osconfig.json" "$dest/etc/osconfig/osconfig.json"
fi
install -m 0644 "$here/src/platform/systemd/osconfig-platform.service" "$dest/$unit_dir/"
if [ "$with_agent" = 1 ]; then
  install -m 0755 "$build_dir/osconfig" "$dest/usr/bin/"
  install -m 0644 "$here/src/agent/systemd/osconfig.service" "$dest/$unit_dir/"
fi
