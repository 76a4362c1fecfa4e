//! Hardening of the MPI's HTTP layer against the real platform: a pipelining client that never reads, bodies held
//! back on many connections, idle floods (from a refused uid and an allowed one), a deleted socket.
//! `MEASURE=1` prints peak RSS and a well-behaved client's MpiGet latency under each attack.

mod common;

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{reference_request, status_of, Options, Platform};

/// A platform with only the fixture module, its `big` object `big_size` bytes.
fn platform_with_big(tag: &str, big_size: usize) -> (Platform, String) {
    let platform = Platform::start(tag, Options { modules: vec!["fixture"], ..Options::default() });
    let mut client = platform.client();
    let session = client.open(tag, 0).unwrap();
    client.set(&session, "Fixture", "bigSize", big_size.to_string().as_bytes()).unwrap();
    (platform, session)
}

fn get_big(session: &str) -> Vec<u8> {
    reference_request(
        "MpiGet",
        format!("{{\"ClientSession\":\"{session}\",\"ComponentName\":\"Fixture\",\"ObjectName\":\"big\"}}").as_bytes(),
    )
}

/// A well-behaved client's MpiGet latencies (Fixture `echo`) until `stop`, and how many calls failed.
fn probe(socket: &Path, stop: Arc<AtomicBool>) -> thread::JoinHandle<(Vec<Duration>, usize)> {
    let socket = socket.to_path_buf();
    thread::spawn(move || {
        let mut times = Vec::new();
        let mut failed = 0;
        let mut client = osconfig_rest::MpiClient::new(&socket).with_timeout(Duration::from_secs(5));
        let mut session = None;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if session.is_none() {
                session = client.open("probe", 0).ok();
            }
            let ok = session.as_ref().is_some_and(|s| client.get(s, "Fixture", "echo").is_ok());
            if ok {
                times.push(started.elapsed());
            } else {
                failed += 1;
                client = osconfig_rest::MpiClient::new(&socket).with_timeout(Duration::from_secs(5));
                session = None;
            }
            thread::sleep(Duration::from_millis(5));
        }
        (times, failed)
    })
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort();
    times.get(((times.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default()
}

fn report(what: &str, mut times: Vec<Duration>, failed: usize) {
    let total = times.len() + failed;
    eprintln!(
        "MEASURE {what}: {} calls, {failed} failed, median {:?}, p99 {:?}",
        total,
        percentile(&mut times, 0.5),
        percentile(&mut times, 0.99)
    );
}

/// Samples the platform's RSS until `stop`; the peak in KiB.
fn rss_sampler(pid: i32, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let rss = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            peak = peak.max(rss);
            thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

#[test]
fn test_never_reading_pipeliner_keeps_rss_bounded_and_others_served() {
    let (platform, session) = platform_with_big("pipeliner", 256 * 1024);
    let stop = Arc::new(AtomicBool::new(false));
    let peak = rss_sampler(platform.pid(), Arc::clone(&stop));
    let prober = probe(&platform.socket, Arc::clone(&stop));
    let mut attacker = UnixStream::connect(&platform.socket).unwrap();
    attacker.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    let burst = get_big(&session).repeat(50);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if attacker.write_all(&burst).is_err() {
            // The platform stopped reading us: keep the pressure without spinning.
            thread::sleep(Duration::from_millis(50));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let peak_kib = peak.join().unwrap();
    let (times, failed) = prober.join().unwrap();
    drop(attacker);
    report("pipeliner", times.clone(), failed);
    eprintln!("MEASURE pipeliner: peak RSS {} KiB", peak_kib);
    assert!(peak_kib < 64 * 1024, "platform grew to {peak_kib} KiB for a client that never reads");
    assert!(times.len() >= 10 && failed * 10 <= times.len() + failed, "{} ok, {failed} failed", times.len());
    thread::sleep(Duration::from_millis(500));
    eprintln!("MEASURE pipeliner: RSS after {} KiB", platform.rss_kib());
    assert!(platform.rss_kib() < 32 * 1024, "RSS after: {} KiB", platform.rss_kib());
}

#[test]
fn test_withheld_bodies_keep_rss_bounded_and_return_after() {
    let platform = Platform::start("withheld", Options { modules: vec!["fixture"], ..Options::default() });
    let stop = Arc::new(AtomicBool::new(false));
    let peak = rss_sampler(platform.pid(), Arc::clone(&stop));
    let prober = probe(&platform.socket, Arc::clone(&stop));
    const BODY: usize = 4 * 1024 * 1024;
    let mut wire = format!(
        "POST /MpiSetDesired/ HTTP/1.1\r\nHost: OSConfig\r\nContent-Type: application/json\r\nContent-Length: {BODY}\r\n\r\n"
    )
    .into_bytes();
    wire.resize(wire.len() + BODY - 1, b' ');
    let sent = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..100)
        .map(|_| {
            let socket = platform.socket.clone();
            let wire = wire.clone();
            let sent = Arc::clone(&sent);
            thread::spawn(move || {
                let mut stream = UnixStream::connect(&socket).unwrap();
                stream.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
                let mut written = 0;
                while written < wire.len() {
                    match stream.write(&wire[written..]) {
                        Ok(n) => written += n,
                        Err(_) => break,
                    }
                }
                sent.fetch_add(written as u64, Ordering::Relaxed);
                stream
            })
        })
        .collect();
    let streams: Vec<UnixStream> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let peak_kib = peak.join().unwrap();
    let (times, failed) = prober.join().unwrap();
    report("withheld bodies", times.clone(), failed);
    eprintln!("MEASURE withheld bodies: sent {} MiB, peak RSS {peak_kib} KiB", sent.load(Ordering::Relaxed) >> 20);
    assert!(peak_kib < 64 * 1024, "platform grew to {peak_kib} KiB holding withheld bodies");
    assert!(!times.is_empty(), "no MpiGet succeeded during the attack ({failed} failed)");
    drop(streams);
    let deadline = Instant::now() + Duration::from_secs(5);
    while platform.rss_kib() >= 32 * 1024 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!("MEASURE withheld bodies: RSS after {} KiB", platform.rss_kib());
    assert!(platform.rss_kib() < 32 * 1024, "RSS after the connections closed: {} KiB", platform.rss_kib());
}

/// Opens the socket's directory and the socket to every uid.
fn open_socket_to_everyone(platform: &Platform) {
    fs::set_permissions(platform.root.join("run/osconfig"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&platform.socket, fs::Permissions::from_mode(0o666)).unwrap();
}

/// Forks a child that becomes `uid`, opens `count` connections to `socket` (sending nothing) and holds them until
/// the returned pipe's write end closes; returns (child pid, write end) once all are open.
fn hold_idle_as(uid: u32, socket: &Path, count: usize) -> (i32, i32) {
    let path = CString::new(socket.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: sockaddr_un is plain data; all-zero is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(path.as_bytes_with_nul()) {
        *dst = *src as libc::c_char;
    }
    let (mut ready, mut hold) = ([0i32; 2], [0i32; 2]);
    // SAFETY: each array has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(ready.as_mut_ptr()) + libc::pipe(hold.as_mut_ptr()) }, 0);
    // SAFETY: after fork the child only calls async-signal-safe functions on memory prepared before the fork, then
    // _exit; the parent only reads and closes.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: child side, as above.
        unsafe {
            libc::alarm(60);
            libc::close(ready[0]);
            libc::close(hold[1]);
            if uid != 0
                && (libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(uid) != 0 || libc::setuid(uid) != 0)
            {
                libc::_exit(10);
            }
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            for _ in 0..count {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len);
            }
            libc::write(ready[1], b"r".as_ptr().cast(), 1);
            let mut byte = 0u8;
            libc::read(hold[0], (&mut byte as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    // SAFETY: our own pipe ends.
    unsafe {
        libc::close(ready[1]);
        libc::close(hold[0]);
        let mut byte = 0u8;
        libc::read(ready[0], (&mut byte as *mut u8).cast(), 1);
        libc::close(ready[0]);
    }
    (pid, hold[1])
}

fn release(child: (i32, i32)) {
    // SAFETY: our pipe end and our child.
    unsafe {
        libc::close(child.1);
        libc::waitpid(child.0, std::ptr::null_mut(), 0);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn test_idle_flood_from_a_refused_uid_does_not_lock_out_root() {
    if !is_root() {
        eprintln!("skipped: needs root to act as another uid");
        return;
    }
    let platform = Platform::start("refused-flood", Options { modules: vec!["fixture"], ..Options::default() });
    open_socket_to_everyone(&platform);
    let stop = Arc::new(AtomicBool::new(false));
    let prober = probe(&platform.socket, Arc::clone(&stop));
    let child = hold_idle_as(65534, &platform.socket, 600);
    thread::sleep(Duration::from_millis(300));
    let answer = common::exchange(
        &platform.socket,
        &reference_request("MpiOpen", b"{\"ClientName\":\"root\",\"MaxPayloadSizeBytes\":0}"),
    );
    assert_eq!(status_of(&answer), 200, "{}", String::from_utf8_lossy(&answer));
    thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let (times, failed) = prober.join().unwrap();
    report("refused-uid idle flood", times.clone(), failed);
    release(child);
    assert!(failed * 10 <= times.len() + failed, "{} ok, {failed} failed", times.len());
    let refusals = platform.stderr_text().matches("refused: uid 65534").count();
    assert!(refusals <= 2, "{refusals} refusal lines for one uid");
}

#[test]
fn test_idle_flood_from_an_allowed_uid_evicts_the_longest_idle() {
    let platform = Platform::start("allowed-flood", Options { modules: vec!["fixture"], ..Options::default() });
    let child = hold_idle_as(0, &platform.socket, 600);
    // Past the eviction age of the oldest idle connections.
    thread::sleep(Duration::from_millis(1500));
    let stop = Arc::new(AtomicBool::new(false));
    let prober = probe(&platform.socket, Arc::clone(&stop));
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (times, failed) = prober.join().unwrap();
    report("allowed-uid idle flood", times.clone(), failed);
    let answer = common::exchange(
        &platform.socket,
        &reference_request("MpiOpen", b"{\"ClientName\":\"late\",\"MaxPayloadSizeBytes\":0}"),
    );
    release(child);
    assert_eq!(status_of(&answer), 200, "{}", String::from_utf8_lossy(&answer));
    assert!(failed * 10 <= times.len() + failed, "{} ok, {failed} failed", times.len());
    let limit_lines = platform.stderr_text().matches("connection limit reached").count();
    assert!(limit_lines <= 2, "{limit_lines} 'connection limit' lines");
}

#[test]
fn test_deleted_mpi_socket_is_re_created() {
    let platform = Platform::start("socket-deleted", Options { modules: vec!["fixture"], ..Options::default() });
    fs::remove_file(&platform.socket).unwrap();
    assert!(platform.wait_log("re-created", Duration::from_secs(5)), "{}", platform.stderr_text());
    let mut client = platform.client();
    client.open("after", 0).unwrap();
    let mode = fs::symlink_metadata(&platform.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn test_unloaded_latency() {
    let platform = Platform::start("unloaded", Options { modules: vec!["fixture"], ..Options::default() });
    let stop = Arc::new(AtomicBool::new(false));
    let prober = probe(&platform.socket, Arc::clone(&stop));
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (times, failed) = prober.join().unwrap();
    report("no attack", times.clone(), failed);
    assert_eq!(failed, 0);
}
