SUMMARY = "OSConfig: the platform with the modules and the client an image wants"
DESCRIPTION = "Installs osconfig (the platform daemon, its module host and systemd unit, and the default \
               configuration it recommends) with the modules and osconfigctl chosen by PACKAGECONFIG."
LICENSE = "MIT"

inherit packagegroup

# Each option adds one package to the image; remove options with PACKAGECONFIG:remove:pn-packagegroup-osconfig.
PACKAGECONFIG ??= "commandrunner configuration deviceinfo hostname osconfigctl"
PACKAGECONFIG[commandrunner] = ",,,osconfig-module-commandrunner"
PACKAGECONFIG[configuration] = ",,,osconfig-module-configuration"
PACKAGECONFIG[deviceinfo] = ",,,osconfig-module-deviceinfo"
PACKAGECONFIG[hostname] = ",,,osconfig-module-hostname"
PACKAGECONFIG[osconfigctl] = ",,,osconfigctl"
# The IoT Hub agent: off by default; it needs osconfig built with PACKAGECONFIG "agent" (meta-iot-cloud, meta-clang).
PACKAGECONFIG[agent] = ",,,osconfig-agent"

RDEPENDS:${PN} = "osconfig"
