# Shared by qemu/image and qemu/run (sourced): the emulated boards.
# shellcheck shell=bash disable=SC2034  # the variables set here are read by the scripts that source it
# shellcheck source=cross/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cross/lib.sh"

# Sets for an architecture name (aarch64, armv7): triple (the Rust target whose stage goes into the image), deb_arch
# (Debian's name), kernel_meta (Debian's kernel metapackage: it depends on the current linux-image-<version>-<flavour>),
# multiarch (the library directory), qemu_system, qemu_machine (board and CPU) and console (the serial device).
# Fails for any other name.
arch_facts() {
  case "$1" in
    aarch64)
      triple=aarch64-unknown-linux-gnu; deb_arch=arm64; kernel_meta=linux-image-arm64; multiarch=aarch64-linux-gnu
      qemu_system=qemu-system-aarch64; qemu_machine=(-M virt -cpu cortex-a57); console=ttyAMA0 ;;
    armv7)
      triple=armv7-unknown-linux-gnueabihf; deb_arch=armhf; kernel_meta=linux-image-armmp
      multiarch=arm-linux-gnueabihf; qemu_system=qemu-system-arm; qemu_machine=(-M virt -cpu cortex-a15)
      console=ttyAMA0 ;;
    *)
      echo "unsupported architecture '$1': aarch64 or armv7" >&2
      return 2 ;;
  esac
  qemu_dir="$osconfig_root/target/qemu/$1"
}
