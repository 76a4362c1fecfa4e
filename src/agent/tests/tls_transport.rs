//! The `osconfig` binary over real TLS to `GatewayHostName` (the SDK transport): with a client certificate
//! (`x509=true`, `--x509-cert`, `--x509-key`) on 8883, and MQTT over WebSocket (`IotHubProtocol` 2) on 443, each
//! trusting the test's CA (`--ca-file`). `openssl s_server` stands in for the hub and shows what arrived.

#[allow(dead_code)]
#[path = "support/tls.rs"]
mod tls;

use tls::Certs;

#[test]
fn test_agent_presents_its_client_certificate_over_tls_to_the_gateway() {
    let certs = Certs::new("x509", 42, "device-x509");
    let server = certs.serve(8883, &["-CAfile", "ca.pem", "-Verify", "1"]).expect("port 8883");
    let cs = format!(
        "HostName=hub.example.net;DeviceId=device-x509;ModuleId=osconfig;x509=true;GatewayHostName={}",
        certs.address
    );
    let agent = certs.agent(
        r#"{"IotHubManagement":1,"ModelVersion":20}"#,
        &["--connection-string", &cs, "--x509-cert", "client.pem", "--x509-key", "client.key", "--ca-file", "ca.pem"],
    );
    // The MQTT CONNECT arrives only after the handshake in which s_server demanded and verified the certificate.
    let seen = certs.wait_server(&["device-x509/osconfig", "model-id=dtmi%3aosconfig%3adeviceosconfiguration%3b20"]);
    assert!(seen.contains("depth=0 CN = device-x509"), "the client certificate was verified:\n{seen}");
    drop((agent, server));
}

#[test]
fn test_iot_hub_protocol_2_speaks_mqtt_over_websocket_on_443() {
    let certs = Certs::new("websocket", 43, "unused");
    let Some(server) = certs.serve(443, &[]) else {
        eprintln!("skipped: port 443 cannot be bound here (not root)");
        return;
    };
    let cs = format!(
        "HostName=hub.example.net;DeviceId=device-ws;ModuleId=osconfig;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=;GatewayHostName={}",
        certs.address
    );
    let agent = certs
        .agent(r#"{"IotHubManagement":1,"IotHubProtocol":2}"#, &["--connection-string", &cs, "--ca-file", "ca.pem"]);
    let seen = certs.wait_server(&["GET /$iothub/websocket", "Upgrade: websocket"]);
    assert!(seen.to_lowercase().contains("sec-websocket-protocol: mqtt"), "{seen}");
    drop((agent, server));
}
