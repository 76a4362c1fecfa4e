//! The scenarios: each measures one figure; those with a baseline report their median as a ratio to it.
//!
//! Later issues add scenarios here (MMI through a module host, the platform, RSS, sizes): one entry in
//! [`SCENARIOS`] and a function.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use osconfig_http::{oneshot, Client};

use crate::child::{ChildServer, Role, FLOOR_MESSAGE, HTTP_ANSWER};
use crate::stats::Latency;

/// What every scenario gets: how much to measure and where the built binaries and modules are.
#[derive(Clone, Debug)]
pub struct Context {
    /// How much to measure.
    pub effort: Effort,
    /// The folder holding `osconfig-modulehost` and the module libraries (`lib<name>.so` or `<name>.so`).
    pub bin_dir: std::path::PathBuf,
    /// A CMake build folder of the reference (Azure OSConfig) to measure beside ours (`--reference`), if any.
    pub reference: Option<std::path::PathBuf>,
}

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// Round trips measured on a kept connection.
    pub kept: usize,
    /// Round trips measured with one connection each.
    pub oneshot: usize,
    /// Changes of the desired file measured (local management).
    pub changes: usize,
}

impl Effort {
    /// The full run recorded in BENCHMARKS.md.
    pub const FULL: Effort = Effort { kept: 20_000, oneshot: 5_000, changes: 200 };
    /// A quick run that checks every scenario works (used by the tests).
    pub const QUICK: Effort = Effort { kept: 500, oneshot: 200, changes: 20 };
}

/// One measured figure: a latency, several named latencies, or named values (memory in KiB as `rss_kib`, sizes in
/// bytes).
#[derive(Clone, Debug, PartialEq)]
pub enum Figure {
    /// Round-trip latency; compared with the scenario's baseline.
    Latency(Latency),
    /// Named latencies of one scenario, each compared with the scenario's baseline.
    Latencies(Vec<(&'static str, Latency)>),
    /// Named values, each with its unit in the name.
    Values(Vec<(String, serde_json::Value)>),
}

impl Figure {
    /// The latency, for figures that have one.
    pub fn latency(&self) -> Option<Latency> {
        match self {
            Figure::Latency(latency) => Some(*latency),
            Figure::Latencies(_) | Figure::Values(_) => None,
        }
    }
}

/// A named measurement and the baseline it is compared with.
#[derive(Debug)]
pub struct Scenario {
    /// The name used on the command line and in the JSON.
    pub name: &'static str,
    /// What it measures, for the table.
    pub what: &'static str,
    /// The scenario whose median this one's is divided by.
    pub baseline: Option<&'static str>,
    /// Runs it.
    pub run: fn(&Context) -> io::Result<Figure>,
}

/// Every scenario, baselines first.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "uds_floor",
        what: "256 B request + 256 B answer, raw Unix socket, kept connection",
        baseline: None,
        run: uds_floor,
    },
    Scenario {
        name: "uds_connect_floor",
        what: "connect + 256 B + 256 B + close, raw Unix socket",
        baseline: None,
        run: uds_connect_floor,
    },
    Scenario {
        name: "http_keepalive",
        what: "HTTP POST with a JSON body and its answer, kept-alive connection",
        baseline: Some("uds_floor"),
        run: http_keepalive,
    },
    Scenario {
        name: "http_oneshot",
        what: "HTTP POST with a JSON body and its answer, one connection each",
        baseline: Some("uds_connect_floor"),
        run: http_oneshot,
    },
    Scenario {
        name: "mmi_get_inprocess",
        what: "MmiGet DeviceInfo.osName, module loaded in this process",
        baseline: Some("uds_floor"),
        run: crate::mmi::get_inprocess,
    },
    Scenario {
        name: "mmi_get_host",
        what: "MmiGet DeviceInfo.osName through a module host, kept-alive client",
        baseline: Some("uds_floor"),
        run: crate::mmi::get_via_host,
    },
    Scenario {
        name: "mpi_get_inprocess",
        what: "MpiGet DeviceInfo.osName through the platform, module in-process, kept-alive",
        baseline: Some("uds_floor"),
        run: crate::platform::mpi_get_inprocess,
    },
    Scenario {
        name: "mpi_get_host",
        what: "MpiGet DeviceInfo.osName through the platform, module in a host, kept-alive",
        baseline: Some("uds_floor"),
        run: crate::platform::mpi_get_host,
    },
    Scenario {
        name: "mpi_get_inprocess_1shot",
        what: "MpiGet DeviceInfo.osName through the platform, module in-process, one connection each",
        baseline: Some("uds_connect_floor"),
        run: crate::platform::mpi_get_inprocess_oneshot,
    },
    Scenario {
        name: "mpi_get_host_1shot",
        what: "MpiGet DeviceInfo.osName through the platform, module in a host, one connection each",
        baseline: Some("uds_connect_floor"),
        run: crate::platform::mpi_get_host_oneshot,
    },
    Scenario {
        name: "mpi_throughput",
        what: "MpiGet per second with 1, 8 and 64 kept-alive clients, against the raw floor's rate",
        baseline: None,
        run: crate::platform::mpi_throughput,
    },
    Scenario {
        name: "platform_rss",
        what: "platform RSS (KiB): no modules, four in-process, four in hosts (with the hosts)",
        baseline: None,
        run: crate::platform::platform_rss,
    },
    Scenario {
        name: "platform_pss",
        what: "PSS/USS (KiB) of the platform and each host, DeviceInfo + CommandRunner + Configuration, in hosts and in-process",
        baseline: None,
        run: crate::platform::platform_pss,
    },
    Scenario {
        name: "first_answer",
        what: "ms from starting the platform to its first answered MpiGet, four modules",
        baseline: None,
        run: crate::platform::first_answer,
    },
    Scenario {
        name: "watcher",
        what: "rename of a new desired file to HostName applying it and to the reported file showing it (module in a host)",
        baseline: Some("uds_floor"),
        run: crate::watcher::desired_to_reported,
    },
    Scenario {
        name: "host_rss",
        what: "module host RSS (KiB) after loading each module and opening a session",
        baseline: None,
        run: crate::mmi::host_rss,
    },
    Scenario {
        name: "sizes",
        what: "stripped sizes (bytes) of the module host and each module",
        baseline: None,
        run: crate::mmi::sizes,
    },
];

/// The body of the HTTP requests: an `MpiGet` as the reference client sends it.
const REQUEST_BODY: &[u8] =
    br#"{"ClientSession":"F835511C-92A1-B162-49D1-3E550BDF3159","ComponentName":"DeviceInfo","ObjectName":"osName"}"#;

/// Times `op` `count` times after a warm-up of a tenth as many.
pub fn measure(count: usize, mut op: impl FnMut() -> io::Result<()>) -> io::Result<Latency> {
    for _ in 0..count / 10 {
        op()?;
    }
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        op()?;
        samples.push(start.elapsed());
    }
    Ok(Latency::of(&mut samples))
}

fn floor_round_trip(stream: &mut UnixStream, message: &mut [u8; FLOOR_MESSAGE]) -> io::Result<()> {
    stream.write_all(message)?;
    stream.read_exact(message)
}

fn uds_floor(ctx: &Context) -> io::Result<Figure> {
    let server = ChildServer::start(Role::Floor)?;
    let mut stream = UnixStream::connect(server.socket())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut message = [b'x'; FLOOR_MESSAGE];
    let latency = measure(ctx.effort.kept, || floor_round_trip(&mut stream, &mut message))?;
    Ok(Figure::Latency(latency))
}

fn uds_connect_floor(ctx: &Context) -> io::Result<Figure> {
    let server = ChildServer::start(Role::ConnectFloor)?;
    let mut message = [b'x'; FLOOR_MESSAGE];
    let latency = measure(ctx.effort.oneshot, || {
        let mut stream = UnixStream::connect(server.socket())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        floor_round_trip(&mut stream, &mut message)
    })?;
    Ok(Figure::Latency(latency))
}

fn check_answer(status: u16, body: &[u8]) -> io::Result<()> {
    if status == 200 && body == HTTP_ANSWER {
        Ok(())
    } else {
        Err(io::Error::other(format!("unexpected answer {status}")))
    }
}

fn http_keepalive(ctx: &Context) -> io::Result<Figure> {
    let server = ChildServer::start(Role::Http)?;
    let mut client = Client::new(server.socket());
    let latency = measure(ctx.effort.kept, || {
        let answer = client.post("/MpiGet/", REQUEST_BODY).map_err(io::Error::other)?;
        check_answer(answer.status, &answer.body)
    })?;
    Ok(Figure::Latency(latency))
}

fn http_oneshot(ctx: &Context) -> io::Result<Figure> {
    let server = ChildServer::start(Role::Http)?;
    let latency = measure(ctx.effort.oneshot, || {
        let answer = oneshot(server.socket(), "POST", "/MpiGet/", REQUEST_BODY, Duration::from_secs(10))
            .map_err(io::Error::other)?;
        check_answer(answer.status, &answer.body)
    })?;
    Ok(Figure::Latency(latency))
}
