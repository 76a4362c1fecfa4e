//! `osconfig`: the OSConfig IoT Hub agent (see the crate docs and `README.md`).

use std::path::Path;
use std::time::Duration;

use osconfig_agent::agent::{Agent, Stop};
use osconfig_agent::args::{self, Command, EXIT_CONFIG, EXIT_OK, EXIT_STARTUP};
use osconfig_agent::config::{self, Config};
use osconfig_agent::identity::{
    sas, AisSockets, IdentityOptions, CERTIFICATE_CHECK_INTERVAL, CONNECTION_STRING_ENV, DEFAULT_OPENSSL_ENGINE,
};
use osconfig_agent::notify::Notifier;
use osconfig_agent::signals::Signals;
use osconfig_agent::transport::sdk::SdkTransport;
use osconfig_agent::transport::{ClientCertificate, PrivateKey, TransportSettings};
use osconfig_agent::twin::MpiPlatform;
use osconfig_logging::{level_from_osconfig, LogConfig, SyslogMode};

/// The log file is `<root>/var/log/osconfig_pnp_agent.log`, the reference agent's name.
const LOG_NAME: &str = "pnp_agent";
/// MQTT keep-alive.
const KEEP_ALIVE_SECONDS: u32 = 240;
/// Largest `--ca-file`, `--x509-cert` or `--x509-key` read, in bytes.
const MAX_PEM_FILE_BYTES: u64 = 1024 * 1024;

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            return EXIT_OK;
        }
        Ok(Command::Version) => {
            println!("osconfig {}", env!("CARGO_PKG_VERSION"));
            return EXIT_OK;
        }
        Err(e) => {
            eprintln!("osconfig: {e}\n\n{}", args::USAGE);
            return EXIT_CONFIG;
        }
    };
    let signals = Signals::block();
    let config_path = args.config_path();
    let (config, warnings, config_error) = match config::load(&config_path) {
        Ok((config, warnings)) => (config, warnings, None),
        Err(e) => (Config::default(), Vec::new(), Some(e)),
    };
    let log = osconfig_logging::init(&LogConfig {
        name: LOG_NAME.into(),
        dir: args.log_dir(),
        level: level_from_osconfig(config.logging_level),
        max_size: config.max_log_size,
        syslog: if args.foreground { SyslogMode::Never } else { SyslogMode::Auto },
        stderr: args.foreground,
    });
    if let Err(e) = &log {
        eprintln!("osconfig: logging: {e}");
    }
    log::info!("osconfig {} starting (pid {})", env!("CARGO_PKG_VERSION"), std::process::id());
    if let Some(e) = config_error {
        log::error!("{e}: invalid configuration");
        return EXIT_CONFIG;
    }
    for warning in warnings {
        log::warn!("{warning}");
    }
    if !config.iot_hub_management {
        log::info!("IotHubManagement is 0 in {}: remote management is off; exiting", config_path.display());
        // Under Type=notify an exit before READY=1 counts as a failed start: say ready, then end cleanly.
        Notifier::from_env().ready("remote management is off (IotHubManagement 0)");
        return EXIT_OK;
    }
    let x509 = match (&args.x509_cert, &args.x509_key) {
        (Some(cert), Some(key)) => match (read_pem(cert, "CERTIFICATE"), read_pem(key, "PRIVATE KEY")) {
            (Ok(cert_pem), Ok(key_pem)) => Some(ClientCertificate { cert_pem, key: PrivateKey::Pem(key_pem) }),
            (Err(e), _) => {
                log::error!("--x509-cert {}: {e}", cert.display());
                return EXIT_CONFIG;
            }
            (_, Err(e)) => {
                log::error!("--x509-key {}: {e}", key.display());
                return EXIT_CONFIG;
            }
        },
        _ => None,
    };
    let trusted_certs = match &args.ca_file {
        Some(path) => match read_pem(path, "CERTIFICATE") {
            Ok(pem) => Some(pem),
            Err(e) => {
                log::error!("--ca-file {}: {e}", path.display());
                return EXIT_CONFIG;
            }
        },
        None => None,
    };
    if config.iot_hub_protocol == 2 {
        log::info!("IotHubProtocol 2: MQTT over WebSocket (port 443)");
    }
    let settings = TransportSettings {
        websocket: config.iot_hub_protocol == 2,
        model_id: config.model_id(),
        trusted_certs,
        keep_alive_seconds: KEEP_ALIVE_SECONDS,
        x509,
    };
    let defaults = AisSockets::default();
    let identity = IdentityOptions {
        argument: args.connection_string.clone(),
        file: Some(args.connection_file_path()),
        environment: std::env::var(CONNECTION_STRING_ENV).ok(),
        ais: AisSockets {
            identityd: args.identityd_socket.clone().unwrap_or(defaults.identityd),
            keyd: args.keyd_socket.clone().unwrap_or(defaults.keyd),
            certd: args.certd_socket.clone().unwrap_or(defaults.certd),
        },
        token_lifetime: args.token_lifetime.unwrap_or(sas::DEFAULT_TOKEN_LIFETIME),
        has_client_certificate: settings.x509.is_some(),
        openssl_engine: args.openssl_engine.clone().unwrap_or_else(|| DEFAULT_OPENSSL_ENGINE.into()),
        certificate_check_interval: CERTIFICATE_CHECK_INTERVAL,
    };
    let transport = match make_transport() {
        Ok(t) => t,
        Err(e) => {
            log::error!("{e}");
            return EXIT_STARTUP;
        }
    };
    let platform = MpiPlatform::new(args.socket_path());
    log::info!(
        "model id {}, reporting every {} s, {} reported objects, MPI socket {}",
        settings.model_id,
        config.reporting_interval_seconds,
        config.reported.len(),
        args.socket_path().display()
    );
    let mut agent = Agent::new(transport, platform, config, identity, settings);
    let reload = || match config::load(&config_path) {
        Ok((config, warnings)) => {
            for warning in warnings {
                log::warn!("{warning}");
            }
            if let Ok(handle) = &log {
                handle.set_level(level_from_osconfig(config.logging_level));
                handle.set_max_size(config.max_log_size);
            }
            Some(config)
        }
        Err(e) => {
            log::error!("{e}: keeping the previous configuration");
            None
        }
    };
    let stop = agent.run(|pause: Duration| signals.wait(pause), reload);
    agent.platform().close();
    match stop {
        Stop::Signal | Stop::ManagementOff => {
            log::info!("osconfig stopped");
            EXIT_OK
        }
        Stop::Identity(_) => EXIT_CONFIG,
    }
}

/// A PEM file's text (at most [`MAX_PEM_FILE_BYTES`]), which must hold a `-----BEGIN <...what>-----` block.
fn read_pem(path: &Path, what: &str) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_PEM_FILE_BYTES + 1).read_to_string(&mut text).map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(format!("larger than {MAX_PEM_FILE_BYTES} bytes"));
    }
    let begins = text.lines().any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{what}-----")));
    if !begins {
        return Err(format!("holds no PEM {what} block"));
    }
    Ok(text)
}

/// The hub transport: the Azure IoT C SDK.
fn make_transport() -> Result<SdkTransport, String> {
    SdkTransport::new().map_err(|e| e.to_string())
}
