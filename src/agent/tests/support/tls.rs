//! TLS fixtures of the agent's transport tests: a CA, a server certificate for a loopback address, a client
//! certificate (made with the openssl command line), and `openssl s_server` standing in for the hub.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use osconfig_testkit::{artifacts, ChildGuard, TempRoot};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status().expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A temporary directory with `ca.pem`, `srv.pem`/`srv.key` (for `address`), `client.pem`/`client.key` (CN
/// `client_cn`), and `etc/osconfig/` for an agent root.
pub struct Certs {
    /// The directory (removed on drop).
    pub dir: PathBuf,
    _temp: TempRoot,
    /// The loopback address the server certificate names.
    pub address: String,
}

impl Certs {
    /// Makes the certificates; `tag` keeps directories of tests apart, `last_octet_base` their addresses.
    pub fn new(tag: &str, last_octet_base: u32, client_cn: &str) -> Certs {
        let temp = TempRoot::new(&format!("agent-{tag}"));
        let dir = temp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("etc/osconfig")).unwrap();
        // An address of its own on the loopback network (the SDK's ports are fixed).
        let address = format!("127.0.{last_octet_base}.{}", std::process::id() % 250 + 2);
        std::fs::write(dir.join("ext"), format!("subjectAltName=DNS:localhost,IP:{address}\n")).unwrap();
        let subject = format!("/CN={client_cn}");
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=agent test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
            ],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext",
                "-out",
                "srv.pem",
            ],
        );
        openssl(
            &dir,
            &["req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", "client.key", "-out", "client.csr"],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                "client.pem",
            ],
        );
        Certs { dir, address, _temp: temp }
    }

    /// What `server.out` holds so far.
    pub fn server_output(&self) -> String {
        let mut text = Vec::new();
        let _ = std::fs::File::open(self.dir.join("server.out")).map(|mut f| f.read_to_end(&mut text));
        String::from_utf8_lossy(&text).into_owned()
    }

    /// `openssl s_server` on `address:port` with the server certificate (`extra` arguments added), output to
    /// `server.out`; returns once it accepts, or `None` when the port cannot be bound (with the reason printed).
    pub fn serve(&self, port: u16, extra: &[&str]) -> Option<ChildGuard> {
        let out = std::fs::File::create(self.dir.join("server.out")).unwrap();
        // stdin stays open: s_server ends at end of input.
        let mut server = ChildGuard::new(
            Command::new("openssl")
                .args([
                    "s_server",
                    "-accept",
                    &format!("{}:{port}", self.address),
                    "-cert",
                    "srv.pem",
                    "-key",
                    "srv.key",
                ])
                .args(extra)
                .current_dir(&self.dir)
                .stdin(Stdio::piped())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .expect("openssl s_server"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.server_output().contains("ACCEPT") {
            if server.try_wait().is_some() {
                eprintln!("openssl s_server cannot serve {}:{port}: {}", self.address, self.server_output());
                return None;
            }
            assert!(Instant::now() < deadline, "s_server did not start: {}", self.server_output());
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    /// Runs the agent binary on this directory as its root with `args` (and no Identity Service).
    pub fn agent(&self, config: &str, args: &[&str]) -> ChildGuard {
        let mut all = vec!["--identityd-socket", "none.sock"];
        all.extend_from_slice(args);
        self.agent_with(config, &all, &[])
    }

    /// Runs the agent binary on this directory as its root with `args` and `env` added to its environment (only
    /// its own); its standard error goes to `agent.err`.
    pub fn agent_with(&self, config: &str, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> ChildGuard {
        std::fs::write(self.dir.join("etc/osconfig/osconfig.json"), config).unwrap();
        let err = std::fs::File::create(self.dir.join("agent.err")).unwrap();
        ChildGuard::new(
            Command::new(artifacts().agent())
                .arg("--root")
                .arg(&self.dir)
                .arg("--foreground")
                .args(args)
                .current_dir(&self.dir)
                .env_remove("NOTIFY_SOCKET")
                .env_remove("OSCONFIG_CONNECTION_STRING")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .expect("osconfig"),
        )
    }

    /// What the agent wrote to standard error so far (its log, and the SDK's).
    pub fn agent_output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("agent.err")).unwrap_or_default()).into_owned()
    }

    /// Waits (at most 30 s) until the server's output holds every one of `needles`; the output.
    pub fn wait_server(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.server_output();
            if needles.iter().all(|n| seen.contains(n)) {
                return seen;
            }
            assert!(Instant::now() < deadline, "the server never saw {needles:?}:\n{seen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
