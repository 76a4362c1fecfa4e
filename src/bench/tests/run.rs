//! Runs the benchmark binary quickly and checks the JSON it writes: the interface later issues build on.

use std::path::Path;
use std::process::Command;
use std::sync::Once;

/// Builds the module host and the modules next to the benchmark binary (a no-op after `cargo test --workspace`).
fn build_modules() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_osconfig-bench")).parent().unwrap();
        let target_dir = bin_dir.parent().unwrap();
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--quiet"]).env("CARGO_TARGET_DIR", target_dir);
        if bin_dir.file_name().unwrap() == "release" {
            cargo.arg("--release");
        }
        for package in ["osconfig-modulehost", "osconfig-deviceinfo", "osconfig-hostname"] {
            cargo.args(["-p", package]);
        }
        for package in ["osconfig-commandrunner", "osconfig-configuration", "osconfig-platform"] {
            cargo.args(["-p", package]);
        }
        assert!(cargo.status().unwrap().success(), "building the modules failed");
    });
}

#[test]
fn test_quick_run_writes_every_figure_with_ratios_from_the_same_run() {
    build_modules();
    let out = std::env::temp_dir().join(format!("osconfig-bench-test-{}.json", std::process::id()));
    let status =
        Command::new(env!("CARGO_BIN_EXE_osconfig-bench")).args(["--quick", "--json"]).arg(&out).status().unwrap();
    assert!(status.success());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    assert!(doc["machine"].as_str().unwrap().contains("cores"));
    assert!(doc["date"].as_str().unwrap().starts_with("20"));
    let figures = doc["figures"].as_object().unwrap();
    for name in
        ["uds_floor", "uds_connect_floor", "http_keepalive", "http_oneshot", "mmi_get_inprocess", "mmi_get_host"]
    {
        let figure = &figures[name];
        let median = figure["median_us"].as_f64().unwrap();
        assert!(median > 0.0 && figure["p99_us"].as_f64().unwrap() >= median, "{name}: {figure}");
    }
    for module in ["deviceinfo", "hostname", "commandrunner", "configuration"] {
        let rss = figures["host_rss"][format!("{module}_rss_kib")].as_u64().unwrap();
        assert!(rss > 100 && rss < 1024 * 1024, "{module}: {rss} KiB");
        assert!(figures["sizes"][format!("{module}_so_bytes")].as_u64().unwrap() > 1000);
    }
    assert!(figures["sizes"]["osconfig-modulehost_bytes"].as_u64().unwrap() > 1000);
    let platform = &figures["platform_rss"];
    assert_eq!(platform["hosts"], 4, "{platform}");
    assert!(platform["platform_isolated_with_hosts_rss_kib"].as_u64() > platform["platform_isolated_rss_kib"].as_u64());
    let pss = &figures["platform_pss"];
    assert!(pss["idle_pss_kib"].as_u64().unwrap() > 0, "{pss}");
    for layout in ["hosts", "multicall"] {
        assert_eq!(pss[format!("{layout}_hosts")], 3, "{pss}");
        let mut sum = pss[format!("{layout}_platform_pss_kib")].as_u64().unwrap();
        for module in ["deviceinfo", "commandrunner", "configuration"] {
            let host = |what: &str| pss[format!("{layout}_{module}_host_{what}_kib")].as_u64().unwrap();
            assert!(host("uss") > 0 && host("uss") <= host("pss") && host("pss") <= host("rss"), "{layout} {module}");
            sum += host("pss");
        }
        assert_eq!(pss[format!("{layout}_total_pss_kib")].as_u64().unwrap(), sum, "{pss}");
    }
    assert_eq!(pss["inprocess_hosts"], 0, "{pss}");
    assert_eq!(pss["inprocess_total_pss_kib"], pss["inprocess_platform_pss_kib"], "{pss}");
    for module in ["deviceinfo", "hostname", "commandrunner", "configuration"] {
        let host = &figures["host_rss"];
        let uss = host[format!("{module}_uss_kib")].as_u64().unwrap();
        assert!(uss > 0 && uss <= host[format!("{module}_pss_kib")].as_u64().unwrap(), "{module}: {host}");
    }
    let rates = &figures["mpi_throughput"];
    for key in ["inprocess_8_clients_rps", "host_64_clients_rps", "floor_1_client_rps"] {
        assert!(rates[key].as_f64().unwrap() > 0.0, "{key}: {rates}");
    }
    let first = &figures["first_answer"];
    assert!(first["host_first_answer_ms"].as_f64().unwrap() > first["process_start_floor_ms"].as_f64().unwrap() / 10.0);
    let watcher = &figures["watcher"];
    assert_eq!(watcher["baseline"], "uds_floor", "{watcher}");
    for name in ["to_module", "to_reported"] {
        let median = watcher[format!("{name}_median_us")].as_f64().unwrap();
        assert!(median > 0.0 && watcher[format!("{name}_p99_us")].as_f64().unwrap() >= median, "{watcher}");
        let expected = median / figures["uds_floor"]["median_us"].as_f64().unwrap();
        let ratio = watcher[format!("{name}_ratio")].as_f64().unwrap();
        assert!((ratio - expected).abs() <= 0.01 * expected + 0.02, "{name}: {ratio} vs {expected}");
    }
    // The module applies the change before the reported file is written.
    assert!(watcher["to_reported_median_us"].as_f64() >= watcher["to_module_median_us"].as_f64(), "{watcher}");
    for (name, base) in [
        ("http_keepalive", "uds_floor"),
        ("http_oneshot", "uds_connect_floor"),
        ("mmi_get_inprocess", "uds_floor"),
        ("mmi_get_host", "uds_floor"),
        ("mpi_get_inprocess", "uds_floor"),
        ("mpi_get_host", "uds_floor"),
        ("mpi_get_inprocess_1shot", "uds_connect_floor"),
        ("mpi_get_host_1shot", "uds_connect_floor"),
    ] {
        let expected = figures[name]["median_us"].as_f64().unwrap() / figures[base]["median_us"].as_f64().unwrap();
        let ratio = figures[name]["ratio"].as_f64().unwrap();
        // Both are rounded to two decimals in the JSON: allow for that.
        assert!((ratio - expected).abs() <= 0.01 * expected + 0.02, "{name}: {ratio} vs {expected}");
        assert_eq!(figures[name]["baseline"], base);
    }
}

#[test]
fn test_named_scenario_brings_its_baseline_and_unknown_is_refused() {
    let out = std::env::temp_dir().join(format!("osconfig-bench-test-one-{}.json", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_osconfig-bench"))
        .args(["--quick", "http_keepalive", "--json"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    let names: Vec<&String> = doc["figures"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["uds_floor", "http_keepalive"]);
    let bad = Command::new(env!("CARGO_BIN_EXE_osconfig-bench")).arg("no_such_scenario").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scenario"));
}
