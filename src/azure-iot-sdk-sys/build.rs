//! Build script: finds the Azure IoT C SDK on the system, links its libraries and generates the bindings.
//!
//! Where the SDK comes from (README.md has the details):
//! 1. `AZURE_IOT_SDK_DIR`, an install prefix (`include/azureiot/`, `include/azure_c_shared_utility/`, `lib/`). The
//!    repository's `.cargo/config.toml` sets it to `target/azure-iot-sdk` (what `build-sdk` installs) unless the
//!    environment already has it; a Yocto recipe sets it to `${STAGING_DIR_TARGET}${prefix}`. Empty means unset.
//! 2. Otherwise pkg-config, package `azure-iot-sdk-c` (`PKG_CONFIG_PATH`, `PKG_CONFIG_SYSROOT_DIR` are honoured).
//!
//! Static libraries are linked when the SDK has all of them (what `build-sdk` installs); otherwise its shared
//! libraries (Yocto's recipe builds with `build_as_dynamic`, where `libiothub_client.so` carries the transports).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process;

/// The environment variable naming the SDK's install prefix.
const ENV_DIR: &str = "AZURE_IOT_SDK_DIR";
/// The pkg-config package looked up when `AZURE_IOT_SDK_DIR` is not set.
const PKG_NAME: &str = "azure-iot-sdk-c";
/// The header that proves an include directory holds the SDK.
const MODULE_CLIENT_HEADER: &str = "iothub_module_client_ll.h";

/// How one of the SDK's libraries is needed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Always,
    /// Only as a static library: a shared `libiothub_client.so` already contains the transports.
    TransportArchive,
}

/// The SDK's libraries in link order: users before what they use.
const SDK_LIBS: [(&str, Need); 6] = [
    ("iothub_client", Need::Always),
    ("iothub_client_mqtt_transport", Need::TransportArchive),
    ("iothub_client_mqtt_ws_transport", Need::TransportArchive),
    ("umqtt", Need::Always),
    ("aziotsharedutil", Need::Always),
    ("parson", Need::Always),
];

/// What was found: where the headers and libraries are, and how it was found (for messages).
struct Sdk {
    origin: String,
    include_dirs: Vec<PathBuf>,
    lib_dirs: Vec<PathBuf>,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wrapper.h");
    for var in [
        ENV_DIR,
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
        "BINDGEN_EXTRA_CLANG_ARGS",
        "LIBCLANG_PATH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let sdk = match find_sdk() {
        Ok(sdk) => sdk,
        Err(message) => fail(&message),
    };
    let c_logging = sdk.include_dirs.iter().any(|d| d.join("c_logging/logger.h").is_file());
    if let Err(message) = link(&sdk, c_logging) {
        fail(&format!("{message} (SDK from {})", sdk.origin));
    }
    if let Err(message) = generate_bindings(&sdk, c_logging) {
        fail(&format!("{message} (SDK from {})", sdk.origin));
    }
    let includes: Vec<String> = sdk.include_dirs.iter().map(|d| d.display().to_string()).collect();
    // Dependents see it as DEP_IOTHUB_CLIENT_INCLUDE (the `links` key).
    println!("cargo:include={}", includes.join(":"));
}

/// Stops the build with one clear message.
fn fail(message: &str) -> ! {
    eprintln!("error: azure-iot-sdk-sys: {message}");
    process::exit(1);
}

fn find_sdk() -> Result<Sdk, String> {
    match env::var_os(ENV_DIR) {
        Some(dir) if !dir.is_empty() => {
            let prefix = PathBuf::from(dir);
            from_prefix(&prefix).map_err(|e| format!("{ENV_DIR}={}: {e}", prefix.display()))
        }
        _ => from_pkg_config().map_err(|pkg_error| {
            format!(
                "the Azure IoT C SDK was not found. Either set {ENV_DIR} to its install prefix (holding \
                 include/azureiot/{MODULE_CLIENT_HEADER} and lib/libiothub_client.a or .so; \
                 src/azure-iot-sdk-sys/build-sdk installs one in target/azure-iot-sdk, which the repository's \
                 .cargo/config.toml names), or make `pkg-config {PKG_NAME}` find it (PKG_CONFIG_PATH, and \
                 PKG_CONFIG_SYSROOT_DIR for a sysroot). pkg-config said: {pkg_error}"
            )
        }),
    }
}

/// An install prefix, as `make install` of the SDK (or a Yocto sysroot's `/usr`) lays it out.
fn from_prefix(prefix: &Path) -> Result<Sdk, String> {
    if !prefix.is_dir() {
        return Err("no such directory".to_string());
    }
    let include = prefix.join("include");
    let azureiot = include.join("azureiot");
    if !azureiot.join(MODULE_CLIENT_HEADER).is_file() {
        return Err(format!("no include/azureiot/{MODULE_CLIENT_HEADER} there"));
    }
    let lib_dirs: Vec<PathBuf> = ["lib", "lib64"].iter().map(|d| prefix.join(d)).filter(|d| d.is_dir()).collect();
    if lib_dirs.is_empty() {
        return Err("no lib/ directory there".to_string());
    }
    Ok(Sdk { origin: format!("{ENV_DIR}={}", prefix.display()), include_dirs: vec![include, azureiot], lib_dirs })
}

/// pkg-config tells where the headers and libraries are (with the sysroot applied); `link` picks the libraries.
fn from_pkg_config() -> Result<Sdk, String> {
    let lib = pkg_config::Config::new().cargo_metadata(false).env_metadata(true).probe(PKG_NAME).map_err(|e| {
        let text = e.to_string();
        text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
    })?;
    let mut include_dirs = Vec::new();
    for dir in &lib.include_paths {
        include_dirs.push(dir.clone());
        if dir.join("azureiot").join(MODULE_CLIENT_HEADER).is_file() {
            include_dirs.push(dir.join("azureiot"));
        }
    }
    let mut lib_dirs = lib.link_paths.clone();
    // pkg-config leaves system directories out of -L/-I: ask for the variables, under the sysroot if there is one.
    let sysroot = env::var_os("PKG_CONFIG_SYSROOT_DIR").map(PathBuf::from).unwrap_or_default();
    let in_sysroot = |dir: String| {
        let rel = dir.trim_start_matches('/');
        if sysroot.as_os_str().is_empty() {
            PathBuf::from(&dir)
        } else {
            sysroot.join(rel)
        }
    };
    if lib_dirs.is_empty() {
        if let Ok(dir) = pkg_config::get_variable(PKG_NAME, "libdir") {
            lib_dirs.push(in_sysroot(dir));
        }
    }
    if !include_dirs.iter().any(|d| d.join(MODULE_CLIENT_HEADER).is_file()) {
        if let Ok(dir) = pkg_config::get_variable(PKG_NAME, "includedir") {
            let dir = in_sysroot(dir);
            include_dirs.push(dir.join("azureiot"));
            include_dirs.push(dir);
        }
    }
    if !include_dirs.iter().any(|d| d.join(MODULE_CLIENT_HEADER).is_file()) {
        return Err(format!("{PKG_NAME}'s include directories hold no {MODULE_CLIENT_HEADER}"));
    }
    Ok(Sdk { origin: format!("pkg-config {PKG_NAME} {}", lib.version), include_dirs, lib_dirs })
}

/// The first `lib<name><suffix>` in the library directories.
fn find_lib(sdk: &Sdk, name: &str, suffix: &str) -> Option<PathBuf> {
    sdk.lib_dirs.iter().map(|d| d.join(format!("lib{name}{suffix}"))).find(|p| p.is_file())
}

/// Whether a library file mentions a symbol name (a byte search: enough to tell which optional pieces it holds).
fn mentions(path: &Path, symbol: &str) -> bool {
    fs::read(path).map(|bytes| bytes.windows(symbol.len()).any(|w| w == symbol.as_bytes())).unwrap_or(false)
}

fn link(sdk: &Sdk, c_logging: bool) -> Result<(), String> {
    for dir in &sdk.lib_dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    let all_static = SDK_LIBS.iter().all(|(name, _)| find_lib(sdk, name, ".a").is_some());
    let shared_client = find_lib(sdk, "iothub_client", ".so");
    if !all_static && shared_client.is_none() {
        let missing: Vec<String> = SDK_LIBS
            .iter()
            .filter(|(name, _)| find_lib(sdk, name, ".a").is_none())
            .map(|(name, _)| format!("lib{name}.a"))
            .collect();
        return Err(format!(
            "the libraries are incomplete in {:?}: no {} and no libiothub_client.so",
            sdk.lib_dirs,
            missing.join(", ")
        ));
    }
    // A shared libiothub_client.so built with build_as_dynamic contains the MQTT transports itself.
    let transports_in_client =
        !all_static && shared_client.as_deref().is_some_and(|so| mentions(so, "MQTT_WebSocket_Protocol"));
    let mut curl = false;
    for (name, need) in SDK_LIBS {
        let archive = find_lib(sdk, name, ".a");
        if need == Need::TransportArchive && transports_in_client {
            continue;
        }
        let kind = if all_static {
            "static"
        } else if find_lib(sdk, name, ".so").is_some() {
            "dylib"
        } else if archive.is_some() {
            "static"
        } else {
            return Err(format!("neither lib{name}.a nor lib{name}.so in {:?}", sdk.lib_dirs));
        };
        if kind == "static" && name == "aziotsharedutil" {
            // Built with HTTP support, the shared utility library calls libcurl.
            curl = archive.as_deref().is_some_and(|a| mentions(a, "curl_easy_init"));
        }
        link_lib(kind, name);
    }
    if c_logging {
        // SDK 1.15 and later: c-logging v2.
        for name in ["c_logging_v2", "c_logging_v2_core"] {
            if let Some(kind) = if find_lib(sdk, name, ".a").is_some() {
                Some("static")
            } else if find_lib(sdk, name, ".so").is_some() {
                Some("dylib")
            } else {
                None
            } {
                link_lib(kind, name);
            }
        }
    }
    // What the static libraries call: TLS (OpenSSL), libcurl (HTTP builds only), libuuid, threads, libm.
    let mut system = vec!["ssl", "crypto"];
    if curl {
        system.push("curl");
    }
    system.extend(["uuid", "pthread", "m"]);
    for name in system {
        println!("cargo:rustc-link-lib=dylib={name}");
    }
    Ok(())
}

/// One `rustc-link-lib`. Static archives say `-whole-archive`: Rust 1.75 links a crate's own static libraries whole
/// (`--whole-archive`) into its unit-test executable, and the two transport archives both hold the shared MQTT
/// objects (duplicate symbols when both are linked whole).
fn link_lib(kind: &str, name: &str) {
    if kind == "static" {
        println!("cargo:rustc-link-lib=static:-whole-archive={name}");
    } else {
        println!("cargo:rustc-link-lib={kind}={name}");
    }
}

fn generate_bindings(sdk: &Sdk, c_logging: bool) -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR unset")?);
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR unset")?);
    // The generated code must build with the crate's oldest Rust (rust-version).
    let rust_target = bindgen::RustTarget::stable(75, 0).map_err(|e| e.to_string())?;
    let mut builder = bindgen::Builder::default()
        .header(manifest_dir.join("wrapper.h").display().to_string())
        .rust_target(rust_target)
        .clang_args(sdk.include_dirs.iter().map(|d| format!("-I{}", d.display())))
        .allowlist_function("IoTHubModuleClient_LL_.*")
        .allowlist_function("IoTHub_Init|IoTHub_Deinit")
        .allowlist_function("MQTT_Protocol|MQTT_WebSocket_Protocol")
        .allowlist_function("IOTHUB_CLIENT_RESULTStrings|IOTHUB_CLIENT_CONNECTION_STATUS(_REASON)?Strings")
        .allowlist_function("DEVICE_TWIN_UPDATE_STATEStrings")
        .allowlist_function("logger_init|logger_deinit")
        .allowlist_var("OPTION_.*")
        .allowlist_type("IOTHUB_CLIENT_RESULT|IOTHUB_CLIENT_CONNECTION_STATUS(_REASON)?|DEVICE_TWIN_UPDATE_STATE")
        .allowlist_type("OPTION_OPENSSL_KEY_TYPE")
        // C enums as plain integer constants: a value the SDK adds later is never undefined behaviour in Rust.
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .generate_comments(false)
        .layout_tests(true);
    if c_logging {
        builder = builder.clang_arg("-DAZURE_IOT_SDK_SYS_C_LOGGING");
    }
    let bindings = builder.generate().map_err(|e| {
        format!("bindgen failed on wrapper.h ({e}); it needs libclang (Debian: libclang-dev, or set LIBCLANG_PATH)")
    })?;
    bindings.write_to_file(out_dir.join("bindings.rs")).map_err(|e| format!("cannot write the bindings: {e}"))?;
    // The logger's start, as the SDK has it (a generated function rather than a cfg: no check-cfg on Rust 1.75).
    let logger = if c_logging {
        "/// c-logging v2 (SDK 1.15 and later): `logger_init()`, which must run before `IoTHub_Init()`.\n\
         pub(crate) fn logger_init() -> i32 {\n\
         \x20   // SAFETY: no arguments; `crate::init` calls it once, before IoTHub_Init.\n\
         \x20   unsafe { crate::ffi::logger_init() }\n\
         }\n"
    } else {
        "/// SDK 1.14 and earlier log through xlogging (the console logger by default): nothing to start.\n\
         pub(crate) fn logger_init() -> i32 {\n\
         \x20   0\n\
         }\n"
    };
    fs::write(out_dir.join("logger.rs"), logger).map_err(|e| format!("cannot write logger.rs: {e}"))?;
    Ok(())
}
