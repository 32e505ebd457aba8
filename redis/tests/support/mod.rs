//! Test support: a private `redis-server` per test, child processes, and the programs the
//! tests need (`require`), installed on a fresh machine.
#![allow(dead_code)] // each test file uses a different part

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod children;
pub mod cluster;
pub mod history;
pub mod proxy;

/// A `redis-server` on a free loopback port, in its own temporary directory; killed and
/// removed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

impl RedisServer {
    /// A server without persistence.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server that writes every change to its append-only file before answering
    /// (`appendfsync always`), so that a restart loses nothing.
    pub fn start_persistent() -> Self {
        Self::start_with(&["--appendonly", "yes", "--appendfsync", "always"])
    }

    /// A server with extra `redis-server` options (e.g. `--requirepass secret`).
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_on(free_port(), args)
    }

    /// A server that speaks only TLS on its port, with `extra` options.
    pub fn start_tls(cert: &str, key: &str, ca: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let port_text = port.to_string();
        let mut args = vec!["--port", "0", "--tls-port", &port_text];
        args.extend(["--tls-cert-file", cert, "--tls-key-file", key]);
        args.extend(["--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]);
        args.extend(extra);
        Self::start_on(port, &args)
    }

    fn start_on(port: u16, args: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "prio-semaphore-redis-test-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the server's temporary directory");
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        require("redis-server", "redis-server");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `redis-server` ({e}). These tests need a real Redis: \
                     install it with `apt-get install redis-server` (CI does) and make sure \
                     `redis-server` is on the PATH"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:port/`, with `password` if given.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (its data is gone: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it (`SIGKILL`) and starts it again on the same port, with the same options
    /// and directory: empty without persistence, with its data under AOF.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The server's process id.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// `SIGSTOP`: the server stops answering, its connections stay open.
    pub fn pause(&self) {
        // SAFETY: kill(2) on our own child's pid with a valid signal number.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGSTOP) }, 0);
    }

    /// `SIGCONT` after `pause`.
    pub fn resume(&self) {
        // SAFETY: as in `pause`.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGCONT) }, 0);
    }

    /// Seconds since the server started (`INFO server`).
    pub fn uptime(&self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut self.connection())
            .expect("INFO server");
        info.lines()
            .find_map(|l| l.strip_prefix("uptime_in_seconds:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("uptime_in_seconds")
    }

    /// A plain connection for looking at the semaphore's keys.
    pub fn connection(&self) -> redis::Connection {
        self.connection_to(&self.url())
    }

    pub fn connection_to(&self, url: &str) -> redis::Connection {
        redis::Client::open(url)
            .expect("url")
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to the test server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The key of one of a semaphore's Redis structures.
pub fn key(name: &str, suffix: &str) -> String {
    format!("prio-semaphore:{{{name}}}:{suffix}")
}

/// Polls `check` every 10 ms until it is true; panics with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last arrival number a semaphore gave out (0 before the first). It changes with
/// every acquire that reaches Redis; its floor is the server time in microseconds, so it
/// is not a count.
pub fn arrival(connection: &mut redis::Connection, name: &str) -> u64 {
    redis::cmd("HGET")
        .arg(key(name, "config"))
        .arg("arrival")
        .query::<Option<u64>>(connection)
        .expect("HGET config arrival")
        .unwrap_or(0)
}

/// Counts a holder in (returns the new count) and keeps the peak: one atomic script, so
/// the peak is measured, not assumed.
pub const ENTER_SCRIPT: &str = "local v = redis.call('INCR', KEYS[1]) \
    if v > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], v) end \
    return v";

/// Makes sure `program` is on the PATH, for the tests that run it: when it is missing and
/// this runs as root on a machine with `apt-get` (a fresh container, CI), installs the
/// Debian package `package`, once across the test binaries that run in parallel (a file
/// lock); otherwise panics with one message that names the package and the command.
/// `cargo test --workspace --all-features` on a fresh machine thus needs no set-up.
pub fn require(program: &str, package: &str) {
    if on_path(program) {
        return;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !on_path("apt-get") {
        panic!(
            "these tests need `{program}`, which is not on the PATH: install the package \
             `{package}` (`sudo apt-get install {package}` on Debian and Ubuntu; the tests \
             install it themselves when they run as root with apt-get) and run them again"
        );
    }
    let _lock = InstallLock::take();
    if on_path(program) {
        return; // another test binary installed it while this one waited
    }
    eprintln!("`{program}` is missing: installing the Debian package `{package}` (apt-get)");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map(|status| status.success())
            .unwrap_or(false)
    };
    let installed = apt(&["update", "-qq"])
        && apt(&["install", "-y", "-qq", "--no-install-recommends", package]);
    assert!(
        installed && on_path(program),
        "installing `{package}` with apt-get failed, so `{program}` is still missing: \
         install it by hand (`apt-get install {package}`) and run the tests again"
    );
}

/// Whether an executable file named `program` is in a directory of the PATH.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// An exclusive lock on a file in the temporary directory, held while one test binary
/// installs packages (apt-get itself refuses a second concurrent run).
struct InstallLock(std::fs::File);

impl InstallLock {
    fn take() -> Self {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("prio-semaphore-redis-tests-apt.lock"))
            .expect("create the install lock file");
        // SAFETY: flock on a file descriptor this `File` owns for as long as the lock lives.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(locked, 0, "lock the install lock file");
        Self(file)
    }
}
