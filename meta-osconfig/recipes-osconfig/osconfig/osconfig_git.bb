SUMMARY = "OSConfig platform, module host, modules and osconfigctl (osconfig-rs)"
SUMMARY:osconfigctl = "osconfigctl: the OSConfig MPI client for people and scripts"
SUMMARY:${PN}-agent = "osconfig: the IoT Hub agent (module twin <-> platform, Azure IoT C SDK)"
SUMMARY:${PN}-conf = "The default /etc/osconfig/osconfig.json: local management on, no cloud"
SUMMARY:${PN}-module-commandrunner = "OSConfig CommandRunner module: runs commands sent by a management authority"
SUMMARY:${PN}-module-configuration = "OSConfig Configuration module: reports and sets the platform's own settings"
SUMMARY:${PN}-module-deviceinfo = "OSConfig DeviceInfo module: reports the OS, kernel and hardware"
SUMMARY:${PN}-module-hostname = "OSConfig HostName module: reports and sets the host name and the hosts file"
DESCRIPTION = "A Rust re-implementation of Azure OSConfig: the platform daemon serves the Management \
               Platform Interface on /run/osconfig/mpid.sock and runs every module in its own module host; local \
               management applies /etc/osconfig/osconfig_desired.json. One cargo build of the workspace, split \
               into one package per module so an image picks the modules it wants."
HOMEPAGE = "https://example.invalid/osconfig-rs"
SECTION = "admin"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=a301e70174df33a5ad16a47e7f7c80cf"

PV = "0.1.0+git"

# The project's git repository. A build from a local checkout overrides it in local.conf (not here), e.g.
#   OSCONFIG_GIT_URI:pn-osconfig = "git:///path/to/osconfig-rs;protocol=file"
#   SRCREV:pn-osconfig = "<commit>"
# The sources unpack into ${BP}, the default S of scarthgap and of wrynose alike.
OSCONFIG_GIT_URI ?= "git://example.invalid/osconfig-rs.git;protocol=https"
SRC_URI = "${OSCONFIG_GIT_URI};branch=main;destsuffix=${BP}"
SRCREV = "834e26633379f08de5b005ae5adb58ff73e99862"

# One crate:// line and checksum per crate of Cargo.lock, written by meta-osconfig/scripts/gen-crates-inc.
require ${BPN}-crates.inc

# systemd: the platform's unit is enabled only with INIT_MANAGER = "systemd" (DISTRO_FEATURES has systemd); with
# poky's default sysvinit the class drops the unit and nothing starts the platform (there is no init script).
inherit cargo cargo-update-recipe-crates systemd

# The binaries and modules that cross/install.sh installs, nothing else of the workspace (tests, benchmarks).
CARGO_BUILD_FLAGS += "-p osconfig-platform -p osconfig-modulehost -p osconfig-cli"
CARGO_BUILD_FLAGS += "-p osconfig-commandrunner -p osconfig-configuration -p osconfig-deviceinfo -p osconfig-hostname"
# The IoT Hub agent (PACKAGECONFIG "agent", off by default): `osconfig` and osconfig.service in ${PN}-agent. It needs
# the Azure IoT C SDK from meta-iot-cloud (azure-iot-sdk-c installs shared libraries and headers under ${prefix} of
# the sysroot, where azure-iot-sdk-sys looks when AZURE_IOT_SDK_DIR names it) and, for the crate's bindgen,
# libclang from meta-clang (clang-native). Both layers are needed only with this option.
PACKAGECONFIG ??= ""
PACKAGECONFIG[agent] = "--with-agent,,azure-iot-sdk-c openssl util-linux clang-native"
CARGO_BUILD_FLAGS += "${@bb.utils.contains('PACKAGECONFIG', 'agent', '-p osconfig-agent', '', d)}"
export AZURE_IOT_SDK_DIR = "${STAGING_DIR_TARGET}${prefix}"
export LIBCLANG_PATH = "${STAGING_LIBDIR_NATIVE}"
export BINDGEN_EXTRA_CLANG_ARGS = "--sysroot=${STAGING_DIR_TARGET} --target=${TARGET_SYS}"
# The workspace's release profile strips; OE strips itself and keeps the symbols in the -dbg package.
export CARGO_PROFILE_RELEASE_STRIP = "false"

# The same install step as cross/stage.sh and the QEMU images: cross/install.sh of the source tree, from cargo's
# output directory of this build, with the distribution's unit directory (usr/lib/systemd/system with usrmerge).
# It installs /etc/osconfig/osconfig.json from meta-osconfig/recipes-osconfig/osconfig/files/ of the same tree;
# a device's own configuration comes from a bbappend's do_install:append.
do_install() {
    ${S}/cross/install.sh ${D} --build-dir ${B}/target/${CARGO_TARGET_SUBDIR} --unit-dir ${systemd_system_unitdir} \
        ${PACKAGECONFIG_CONFARGS}
}

# install.sh always uses /usr/lib/osconfig (not ${libdir}, which is lib64 on some multilib machines).
PACKAGE_BEFORE_PN = "osconfigctl ${PN}-conf ${PN}-agent"
PACKAGE_BEFORE_PN += "${PN}-module-commandrunner ${PN}-module-configuration ${PN}-module-deviceinfo ${PN}-module-hostname"

FILES:${PN} += "${nonarch_libdir}/osconfig/osconfig-modulehost"
FILES:osconfigctl += "${bindir}/osconfigctl"
FILES:${PN}-agent += "${bindir}/osconfig ${systemd_system_unitdir}/osconfig.service"
FILES:${PN}-conf += "${sysconfdir}/osconfig/osconfig.json"
FILES:${PN}-module-commandrunner += "${nonarch_libdir}/osconfig/commandrunner.so ${nonarch_libdir}/osconfig/mim/commandrunner.json"
FILES:${PN}-module-configuration += "${nonarch_libdir}/osconfig/configuration.so ${nonarch_libdir}/osconfig/mim/configuration.json"
FILES:${PN}-module-deviceinfo += "${nonarch_libdir}/osconfig/deviceinfo.so ${nonarch_libdir}/osconfig/mim/deviceinfo.json"
FILES:${PN}-module-hostname += "${nonarch_libdir}/osconfig/hostname.so ${nonarch_libdir}/osconfig/mim/hostname.json"

CONFFILES:${PN}-conf = "${sysconfdir}/osconfig/osconfig.json"

# A module is loaded by the platform's module host.
RDEPENDS:${PN}-module-commandrunner = "${PN} ${VIRTUAL-RUNTIME_base-utils}"
RDEPENDS:${PN}-module-configuration = "${PN}"
RDEPENDS:${PN}-module-deviceinfo = "${PN}"
RDEPENDS:${PN}-module-hostname = "${PN}"
# osconfigctl is a link to the multi-call osconfig-platform executable (cross/install.sh).
RDEPENDS:osconfigctl = "${PN}"
# The agent is an MPI client of the platform (its unit wants osconfig-platform.service).
RDEPENDS:${PN}-agent = "${PN}"
# Without a configuration file the platform runs on built-in defaults (local management off): recommended, so an
# image may ship its own instead (BAD_RECOMMENDATIONS += "osconfig-conf").
RRECOMMENDS:${PN} = "${PN}-conf"
# DeviceInfo reads /etc/os-release.
RRECOMMENDS:${PN}-module-deviceinfo = "os-release"

SYSTEMD_PACKAGES = "${PN} ${@bb.utils.contains('PACKAGECONFIG', 'agent', '${PN}-agent', '', d)}"
SYSTEMD_SERVICE:${PN} = "osconfig-platform.service"
SYSTEMD_SERVICE:${PN}-agent = "osconfig.service"
