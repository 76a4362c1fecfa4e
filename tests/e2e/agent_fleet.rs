//! Fleet simulation (ignored by default: long, and a measurement rather than a check):
//! `OSCONFIG_FLEET_N=100 cargo test -p osconfig-system-tests --test agent_fleet -- --ignored --nocapture`.
//!
//! N agents (`OSCONFIG_FLEET_N`, default 100), each with its own module identity, against one local hub (`hub.py` and
//! one broker per identity, see `common/hub.rs`) and **shared platforms**: up to [`AGENTS_PER_PLATFORM`] agents run
//! with one platform's root, each holding its own MPI session and connection as each device's agent would on its
//! own device (the platform allows 64 connections per uid, `osconfig_http::limits::MAX_CONNECTIONS_PER_UID`, and
//! every agent here runs as root). The desired
//! property pushed is per session (the fixture's `SampleComponent.desiredStringObject`), so the agents do not
//! contend for one device file. Once every agent acknowledged the first full twin, one desired patch goes to all;
//! the harness measures the time until every device acknowledged it, then each agent's PSS
//! (`/proc/<pid>/smaps_rollup`) and CPU time (`/proc/<pid>/stat`), and prints a table.

mod common;
#[path = "common/hub.rs"]
mod hub;

use std::time::{Duration, Instant};

use common::{Options, Platform};
use hub::{Agent, Hub};
use serde_json::json;

/// Default fleet size.
const DEFAULT_AGENTS: usize = 100;
/// Agents served by one platform (below the platform's 64 connections per uid).
const AGENTS_PER_PLATFORM: usize = 50;
/// Deadline for the whole fleet to acknowledge (waiting only).
const WAIT: Duration = Duration::from_secs(600);

fn ack_version(reported: &serde_json::Value) -> Option<u64> {
    let ack = &reported["SampleComponent"]["desiredStringObject"];
    (ack["ac"] == 200).then(|| ack["av"].as_u64()).flatten()
}

#[test]
#[ignore = "fleet measurement: run with --ignored --nocapture (OSCONFIG_FLEET_N agents, default 100)"]
fn fleet_one_patch_to_every_agent() {
    let agents: usize = std::env::var("OSCONFIG_FLEET_N").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_AGENTS);
    assert!((1..=hub::MAX_IDENTITIES).contains(&agents), "OSCONFIG_FLEET_N: 1..={}", hub::MAX_IDENTITIES);
    let config = json!({"LocalManagement": 0, "IotHubManagement": 1, "ReportingIntervalSeconds": 30, "Reported": []});
    let platforms: Vec<Platform> = (0..agents.div_ceil(AGENTS_PER_PLATFORM))
        .map(|n| {
            let options = Options { modules: vec!["fixture"], config: Some(config.clone()), ..Options::default() };
            Platform::start(&format!("fleet{n}"), options)
        })
        .collect();
    let devices: Vec<String> = (0..agents).map(|n| format!("fleet-{n:04}")).collect();
    let identities: Vec<(&str, Option<&str>)> = devices.iter().map(|d| (d.as_str(), Some("osconfig"))).collect();
    let started = Instant::now();
    let hub = Hub::start("fleet", &identities);
    let ids: Vec<String> = devices.iter().map(|d| format!("{d}/osconfig")).collect();
    let mut first = 0;
    for id in &ids {
        first = hub.set_desired(id, json!({"SampleComponent": {"desiredStringObject": "initial"}}));
    }
    eprintln!("fleet: hub with {agents} identities up in {:.1} s", started.elapsed().as_secs_f64());
    let mut fleet: Vec<Agent> = Vec::new();
    let started = Instant::now();
    for (n, id) in ids.iter().enumerate() {
        fleet.push(Agent::start(&platforms[n / AGENTS_PER_PLATFORM].root, &hub, id));
    }
    for (id, agent) in ids.iter().zip(&fleet) {
        hub.wait_for_reported(id, WAIT, |r| {
            assert!(agent.running(), "agent {id} exited:\n{}", agent.log_text());
            ack_version(r) == Some(first)
        })
        .unwrap_or_else(|r| panic!("{id} never acked the full twin: {r}"));
    }
    eprintln!("fleet: {agents} agents connected and applied the full twin in {:.1} s", started.elapsed().as_secs_f64());

    // One patch to all; the time until the last ack.
    let cpu_before: Vec<u64> = fleet.iter().map(Agent::cpu_ticks).collect();
    let pushed = Instant::now();
    let mut versions = Vec::new();
    for id in &ids {
        versions.push(hub.push_patch(id, json!({"SampleComponent": {"desiredStringObject": "patched"}})));
    }
    let push_time = pushed.elapsed();
    let mut acked_at = vec![Duration::ZERO; agents];
    let mut pending: Vec<usize> = (0..agents).collect();
    while !pending.is_empty() {
        assert!(pushed.elapsed() < WAIT, "{} agents never acked the patch: {:?}", pending.len(), &pending);
        pending.retain(|&n| {
            let acked = ack_version(&hub.reported(&ids[n])) == Some(versions[n]);
            if acked {
                acked_at[n] = pushed.elapsed();
            }
            !acked
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    let all_acked = pushed.elapsed();

    // SAFETY: sysconf(3) with a valid name.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    println!("{:<16} {:>8} {:>12} {:>14} {:>12}", "device", "pid", "PSS (KiB)", "CPU patch (ms)", "ack (ms)");
    let mut pss: Vec<u64> = Vec::new();
    for (n, agent) in fleet.iter().enumerate() {
        assert!(agent.running(), "agent {} exited:\n{}", ids[n], agent.log_text());
        let kib = agent.pss_kib();
        pss.push(kib);
        let cpu_ms = (agent.cpu_ticks() - cpu_before[n]) as f64 * 1000.0 / ticks_per_second;
        println!("{:<16} {:>8} {:>12} {:>14.0} {:>12}", devices[n], agent.pid(), kib, cpu_ms, acked_at[n].as_millis());
    }
    pss.sort_unstable();
    let total_cpu: u64 = fleet.iter().map(Agent::cpu_ticks).sum();
    println!(
        "fleet: N={agents}, {} platforms; patch pushed to all in {:.2} s, all acked {:.2} s after the first \
         push; agent PSS KiB min {} median {} max {}; total agent CPU since start {:.1} s",
        platforms.len(),
        push_time.as_secs_f64(),
        all_acked.as_secs_f64(),
        pss[0],
        pss[pss.len() / 2],
        pss[pss.len() - 1],
        total_cpu as f64 / ticks_per_second
    );
    drop(fleet);
}
