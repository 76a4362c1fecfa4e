#!/usr/bin/env python3
"""Microsoft's Python device SDK (azure-iot-device) against the tests' local IoT Hub: the proof that the hub is
faithful. Run by tests/e2e/agent_hub_fidelity.rs.

A connection string with a ModuleId connects as a module identity, else as a device identity.

Usage: device_sdk_check.py <connection string> <CA PEM file> <reported JSON> [websockets]
(`websockets`: MQTT over WebSocket on port 443 instead of MQTT on 8883.)
Prints one JSON line per step on stdout: {"twin": <the twin from get_twin>}, then {"reported": true} once the
reported patch was acknowledged, then {"patch": <the desired patch received>} (the test pushes it after the second
line). Exits 0 after the patch, 1 (with {"error": ...}) on any failure or after 60 s without a patch.
"""

import json
import queue
import sys

from azure.iot.device import IoTHubDeviceClient, IoTHubModuleClient

WAIT_SECONDS = 60


def say(value):
    print(json.dumps(value), flush=True)


def main():
    connection_string, ca_file, reported = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    websockets = sys.argv[4:] == ["websockets"]
    with open(ca_file, encoding="utf-8") as file:
        ca = file.read()
    kind = IoTHubModuleClient if "ModuleId=" in connection_string else IoTHubDeviceClient
    client = kind.create_from_connection_string(
        connection_string, server_verification_cert=ca, websockets=websockets
    )
    patches = queue.Queue()
    client.on_twin_desired_properties_patch_received = patches.put
    client.connect()
    try:
        say({"twin": client.get_twin()})
        client.patch_twin_reported_properties(reported)
        say({"reported": True})
        try:
            say({"patch": patches.get(timeout=WAIT_SECONDS)})
        except queue.Empty:
            say({"error": f"no desired patch within {WAIT_SECONDS} s"})
            return 1
    finally:
        client.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
