#!/usr/bin/env python3
"""The twin service of the tests' local IoT Hub (the "hub responder").

Each device or module identity has a broker of its own (a mosquitto started by tests/e2e/common/hub.rs on a loopback
address of its own, TLS on 8883 for the device, plain on 1883 for this process): the real IoT Hub scopes the
`$iothub/...` topics by the connection, and one broker per identity gives the same scoping with the topics as the
device SDKs use them. This process connects to the plain listener of every identity's broker, subscribes to
`$iothub/twin/GET/#` and `$iothub/twin/PATCH/properties/reported/#`, and keeps one twin per identity:

- GET: `$iothub/twin/res/200/?$rid=<rid>` with `{"desired":{...,"$version":v},"reported":{...,"$version":r}}`;
- reported PATCH: merged into the reported twin (JSON merge patch: null removes), `$version` incremented, answered
  `$iothub/twin/res/204/?$rid=<rid>&$version=<r>`; a patch that is not a JSON object, or larger than
  MAX_REPORTED_PATCH bytes, is answered `res/400` and changes nothing;
- desired patches: published to `$iothub/twin/PATCH/properties/desired/?$version=<v>` when the test asks, and only
  once the device subscribed to them on its current connection (the C SDK subscribes after its first twin response),
  which this process learns from the broker's log (`log_type subscribe`).

The broker's auth_record plugin appends every CONNECT's client id, username and password to a file; this process
checks the SAS token (`SharedAccessSignature sr=..&sig=..&se=..`, HMAC-SHA256 over "<sr>\\n<se>" with the identity's
key) and records the verdict per connection.

Control: one JSON request per line on stdin, one JSON answer per line on stdout (`{"ok":...}` or `{"error":...}`).
Ops: `set_desired` (replace the desired twin, not published), `patch` (merge into desired, publish unless
`"publish":false`, waiting up to `wait` seconds for the device's subscription), `raw_patch` (publish raw text as a
desired patch, the twin unchanged), `raw_twin` (answer the next GET with raw text), `twin` (the twin, the history of
reported patches, GETs and connections). Brokers may restart at any time: the clients reconnect and the twins stay.

MQTT over WebSocket: for an identity with a `websocket_port`, this process serves TLS WebSocket connections there (see
WebSocketFront) and pipes them to the identity's broker.

Usage: hub.py <config.json>, config `{"host_name":..,"tls":{"cert":..,"key":..},"identities":[{"id":"dev/mod",
"device":..,"module":..|null,"address":..,"plain_port":..,"websocket_port":..|null,"log":<broker log>,
"auth":<auth_record file>}]}`. Prints `{"ready":..,"keys":{..}}`
once every broker connection is subscribed.
"""

import base64
import copy
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

import paho.mqtt.client as mqtt

# Largest reported patch accepted (bytes); IoT Hub limits the reported section to 32 KiB.
MAX_REPORTED_PATCH = 32 * 1024
# Reported patches kept per identity in the history (oldest dropped first).
MAX_HISTORY = 10000
# Connections remembered per identity.
MAX_CONNECTIONS = 1000
HUB_CLIENT_ID = "osconfig-test-hub"
# Largest WebSocket frame accepted from a device (bytes); IoT Hub's messages are at most 256 KiB.
MAX_WS_FRAME = 1024 * 1024
# Largest WebSocket upgrade request (bytes).
MAX_WS_REQUEST = 16 * 1024
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

LOCK = threading.Condition()
CONNECTED = re.compile(r"New client connected from \S+ as (\S+) \(")
SUBSCRIBED = re.compile(r"^\d+: (\S+) \d (\S+)$")
GONE = re.compile(r"Client (\S+) (?:disconnected|closed its connection|has exceeded timeout)|Socket error on client (\S+),")
STOPPED = "mosquitto version"


def merge(target, patch):
    """JSON merge patch (RFC 7396) of `patch` into the dict `target`, in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def query_of(topic):
    """The query parameters of an `$iothub` topic (`...?$rid=1&$version=2`)."""
    _, _, query = topic.partition("?")
    return dict(urllib.parse.parse_qsl(query, keep_blank_values=True))


class Identity:
    """One device or module identity: its twin, its broker connection, what its device did."""

    def __init__(self, spec, host_name):
        self.id = spec["id"]
        self.device = spec["device"]
        self.module = spec.get("module")
        self.host_name = host_name
        self.key = base64.b64encode(os.urandom(32)).decode()
        self.log_path = spec["log"]
        self.auth_path = spec["auth"]
        self.offsets = {self.log_path: 0, self.auth_path: 0}
        self.pending = {self.log_path: b"", self.auth_path: b""}
        self.desired = {}
        self.desired_version = 1
        self.reported = {}
        self.reported_version = 1
        self.history = []
        self.gets = 0
        self.get_rids = []
        self.raw_twin = None
        self.connections = []
        self.device_connected = False
        self.subscribed_desired = False
        self.hub_subscribed = False
        self.client = mqtt.Client(client_id=HUB_CLIENT_ID, clean_session=True)
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.5)
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_disconnect = self.on_disconnect
        self.client.on_message = self.on_message
        self.client.connect_async(spec["address"], spec["plain_port"], keepalive=30)
        self.client.loop_start()

    def resource(self):
        if self.module is None:
            return f"{self.host_name}/devices/{self.device}"
        return f"{self.host_name}/devices/{self.device}/modules/{self.module}"

    def twin(self):
        desired = dict(self.desired, **{"$version": self.desired_version})
        reported = dict(self.reported, **{"$version": self.reported_version})
        return {"desired": desired, "reported": reported}

    # MQTT callbacks (paho's network thread of this identity).
    def on_connect(self, client, _userdata, _flags, rc):
        if rc == 0:
            client.subscribe([("$iothub/twin/GET/#", 0), ("$iothub/twin/PATCH/properties/reported/#", 0)])

    def on_subscribe(self, _client, _userdata, _mid, _granted):
        with LOCK:
            self.hub_subscribed = True
            LOCK.notify_all()

    def on_disconnect(self, _client, _userdata, _rc):
        with LOCK:
            self.hub_subscribed = False

    def on_message(self, client, _userdata, message):
        topic = message.topic
        rid = query_of(topic).get("$rid", "")
        if topic.startswith("$iothub/twin/GET/"):
            with LOCK:
                self.gets += 1
                self.get_rids.append(rid)
                del self.get_rids[:-MAX_HISTORY]
                raw, self.raw_twin = self.raw_twin, None
                body = raw.encode() if raw is not None else json.dumps(self.twin()).encode()
                LOCK.notify_all()
            client.publish(f"$iothub/twin/res/200/?$rid={rid}", body)
        elif topic.startswith("$iothub/twin/PATCH/properties/reported/"):
            status, version = self.apply_reported(message.payload)
            suffix = f"&$version={version}" if status == 204 else ""
            client.publish(f"$iothub/twin/res/{status}/?$rid={rid}{suffix}", b"")

    def apply_reported(self, payload):
        try:
            if len(payload) > MAX_REPORTED_PATCH:
                raise ValueError(f"reported patch of {len(payload)} bytes (at most {MAX_REPORTED_PATCH})")
            patch = json.loads(payload)
            if not isinstance(patch, dict):
                raise ValueError("reported patch is not a JSON object")
        except ValueError as error:
            with LOCK:
                self.history.append({"rejected": str(error), "time": time.time()})
                del self.history[:-MAX_HISTORY]
                LOCK.notify_all()
            return 400, None
        with LOCK:
            merge(self.reported, patch)
            self.reported_version += 1
            self.history.append({"patch": patch, "version": self.reported_version, "time": time.time()})
            del self.history[:-MAX_HISTORY]
            LOCK.notify_all()
            return 204, self.reported_version

    # The broker's log and the auth_record file (the watcher thread).
    def poll_files(self):
        for path in (self.log_path, self.auth_path):
            try:
                with open(path, "rb") as file:
                    file.seek(self.offsets[path])
                    data = file.read()
            except FileNotFoundError:
                continue
            self.offsets[path] += len(data)
            data = self.pending[path] + data
            lines = data.split(b"\n")
            self.pending[path] = lines.pop()
            for line in lines:
                if path == self.log_path:
                    self.on_log_line(line.decode(errors="replace"))
                else:
                    self.on_auth_line(line.decode(errors="replace"))

    def on_log_line(self, line):
        with LOCK:
            found = CONNECTED.search(line)
            if found and found.group(1) != HUB_CLIENT_ID:
                self.device_connected = True
                self.subscribed_desired = False
            found = SUBSCRIBED.match(line)
            if found and found.group(1) != HUB_CLIENT_ID:
                if found.group(2) == "$iothub/twin/PATCH/properties/desired/#":
                    self.subscribed_desired = True
            found = GONE.search(line)
            gone = found and (found.group(1) or found.group(2)) != HUB_CLIENT_ID
            if gone or (STOPPED in line and "terminating" in line):
                self.device_connected = False
                self.subscribed_desired = False
            LOCK.notify_all()

    def on_auth_line(self, line):
        fields = [None if f == "-" else bytes.fromhex(f).decode(errors="replace").rstrip("\0") for f in line.split()]
        if len(fields) != 3:
            return
        client_id, username, password = fields
        if client_id == HUB_CLIENT_ID:
            return
        record = {"client_id": client_id, "username": username, "sas": self.check_sas(password), "time": time.time()}
        with LOCK:
            self.connections.append(record)
            del self.connections[:-MAX_CONNECTIONS]
            LOCK.notify_all()

    def check_sas(self, password):
        """'valid' or why not, as IoT Hub would judge the SAS token for this identity."""
        prefix = "SharedAccessSignature "
        if not password or not password.startswith(prefix):
            return "invalid: no SharedAccessSignature password"
        fields = {}
        for part in password[len(prefix):].split("&"):
            key, _, value = part.partition("=")
            fields[key] = value
        if not all(k in fields for k in ("sr", "sig", "se")):
            return "invalid: sr, sig and se are required"
        resource = urllib.parse.unquote(fields["sr"])
        if resource.lower() != self.resource().lower():
            return f"invalid: sr {resource!r}, expected {self.resource()!r}"
        try:
            expiry = int(fields["se"])
        except ValueError:
            return "invalid: se is not a number"
        if expiry < time.time():
            return f"invalid: expired at {expiry}"
        message = f"{fields['sr']}\n{fields['se']}".encode()
        expected = hmac.new(base64.b64decode(self.key), message, hashlib.sha256).digest()
        try:
            signature = base64.b64decode(urllib.parse.unquote(fields["sig"]))
        except ValueError:
            return "invalid: sig is not base64"
        if not hmac.compare_digest(expected, signature):
            return "invalid: wrong signature"
        return "valid"

    # Test requests (main thread).
    def wait_subscribed(self, seconds):
        deadline = time.time() + seconds
        with LOCK:
            while not (self.subscribed_desired and self.hub_subscribed):
                left = deadline - time.time()
                if left <= 0:
                    return False
                LOCK.wait(left)
        return True

    def publish_desired(self, body):
        info = self.client.publish(f"$iothub/twin/PATCH/properties/desired/?$version={self.desired_version}", body)
        info.wait_for_publish(timeout=10)


class WebSocketFront:
    """MQTT over WebSocket (TLS) on `<address>:443`, as IoT Hub serves it at `/$iothub/websocket`: each connection's
    WebSocket frames are unwrapped and piped to the identity's plain MQTT listener, and the broker's bytes go back as
    binary frames. (Mosquitto 2.0.11's own WebSocket listener binds every address, ignoring the one configured, and
    refuses the subprotocol name `MQTT` that the C SDK sends: its match is case-sensitive.)"""

    def __init__(self, spec, tls):
        self.broker = (spec["address"], spec["plain_port"])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls["cert"], tls["key"])
        listener = socket.create_server((spec["address"], spec["websocket_port"]))
        self.listener = context.wrap_socket(listener, server_side=True)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                device, _ = self.listener.accept()
            except (OSError, ssl.SSLError):
                continue
            threading.Thread(target=self.serve, args=(device,), daemon=True).start()

    def serve(self, device):
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = device.recv(4096)
                if not chunk or len(request) > MAX_WS_REQUEST:
                    raise OSError("incomplete WebSocket upgrade request")
                request += chunk
            head, _, rest = request.partition(b"\r\n\r\n")
            headers = {}
            for line in head.decode(errors="replace").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            protocol = headers.get("sec-websocket-protocol", "")
            if protocol.lower() != "mqtt" or "sec-websocket-key" not in headers:
                device.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                raise OSError(f"not an MQTT WebSocket upgrade (protocol {protocol!r})")
            accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest())
            device.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: " + protocol.encode() + b"\r\n\r\n"
            )
            broker = socket.create_connection(self.broker)
        except (OSError, ssl.SSLError) as error:
            print(f"websocket: {error}", file=sys.stderr, flush=True)
            device.close()
            return
        lock = threading.Lock()
        threading.Thread(target=self.to_device, args=(broker, device, lock), daemon=True).start()
        self.to_broker(device, broker, rest, lock)

    @staticmethod
    def frame(opcode, payload):
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        return header + payload

    def to_device(self, broker, device, lock):
        try:
            while True:
                data = broker.recv(65536)
                if not data:
                    break
                with lock:
                    device.sendall(self.frame(0x2, data))
        except (OSError, ssl.SSLError):
            pass
        for sock in (broker, device):
            try:
                sock.close()
            except OSError:
                pass

    def to_broker(self, device, broker, buffered, lock):
        buffer = bytearray(buffered)

        def need(count):
            while len(buffer) < count:
                chunk = device.recv(65536)
                if not chunk:
                    raise OSError("device closed")
                buffer.extend(chunk)
            taken = bytes(buffer[:count])
            del buffer[:count]
            return taken

        try:
            while True:
                first, second = need(2)
                opcode, size = first & 0x0F, second & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", need(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", need(8))
                if size > MAX_WS_FRAME:
                    raise OSError(f"WebSocket frame of {size} bytes (at most {MAX_WS_FRAME})")
                mask = need(4) if second & 0x80 else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(need(size)))
                if opcode in (0x0, 0x1, 0x2):
                    broker.sendall(payload)
                elif opcode == 0x8:
                    break
                elif opcode == 0x9:
                    with lock:
                        device.sendall(self.frame(0xA, payload))
        except (OSError, ssl.SSLError, ValueError):
            pass
        for sock in (broker, device):
            try:
                sock.close()
            except OSError:
                pass


def watch(identities):
    while True:
        for identity in identities.values():
            identity.poll_files()
        time.sleep(0.05)


def handle(identities, request):
    op = request.get("op")
    if op == "ping":
        return True
    identity = identities.get(request.get("identity"))
    if identity is None:
        raise ValueError(f"unknown identity {request.get('identity')!r}")
    if op == "set_desired":
        with LOCK:
            identity.desired = copy.deepcopy(request["desired"])
            identity.desired_version += 1
            return identity.desired_version
    if op == "patch":
        publish = request.get("publish", True)
        if publish and not identity.wait_subscribed(request.get("wait", 30)):
            raise ValueError(f"{identity.id} did not subscribe to desired patches")
        with LOCK:
            merge(identity.desired, request["patch"])
            identity.desired_version += 1
            body = json.dumps(dict(request["patch"], **{"$version": identity.desired_version})).encode()
            version = identity.desired_version
        if publish:
            identity.publish_desired(body)
        return version
    if op == "raw_patch":
        if not identity.wait_subscribed(request.get("wait", 30)):
            raise ValueError(f"{identity.id} did not subscribe to desired patches")
        identity.publish_desired(request["payload"].encode())
        return identity.desired_version
    if op == "raw_twin":
        with LOCK:
            identity.raw_twin = request["payload"]
        return True
    if op == "twin":
        with LOCK:
            return {
                "twin": copy.deepcopy(identity.twin()),
                "history": copy.deepcopy(identity.history),
                "gets": identity.gets,
                "get_rids": list(identity.get_rids),
                "connections": copy.deepcopy(identity.connections),
                "connected": identity.device_connected,
                "subscribed": identity.subscribed_desired,
            }
    raise ValueError(f"unknown op {op!r}")


def main():
    with open(sys.argv[1], encoding="utf-8") as file:
        config = json.load(file)
    identities = {spec["id"]: Identity(spec, config["host_name"]) for spec in config["identities"]}
    fronts = [WebSocketFront(spec, config["tls"]) for spec in config["identities"] if spec.get("websocket_port")]
    threading.Thread(target=watch, args=(identities,), daemon=True).start()
    deadline = time.time() + 30
    with LOCK:
        while not all(i.hub_subscribed for i in identities.values()):
            if time.time() > deadline:
                print(json.dumps({"error": "brokers did not answer"}), flush=True)
                return 1
            LOCK.wait(0.1)
    print(json.dumps({"ready": True, "keys": {i.id: i.key for i in identities.values()}, "websockets": len(fronts)}),
          flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = {"ok": handle(identities, json.loads(line))}
        except (ValueError, KeyError, TypeError) as error:
            answer = {"error": str(error)}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
