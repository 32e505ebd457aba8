//! Child processes: the test binary runs itself again with `PRIO_REDIS_CHILD` set, and
//! the test named `child_process_entry` (a no-op otherwise) runs the role.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The environment variable naming a child's role.
pub const ROLE: &str = "PRIO_REDIS_CHILD";

/// Spawns this test binary as a child running `role` with `vars`.
pub fn spawn(role: &str, vars: &[(&str, String)]) -> Child {
    spawn_under(&[], role, vars)
}

/// Like `spawn`, run by the command `wrapper` (e.g. `faketime -f "+1h x0.997"`).
pub fn spawn_under(wrapper: &[&str], role: &str, vars: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(exe);
            command
        }
        None => Command::new(exe),
    };
    command
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in vars {
        command.env(name, value);
    }
    command.spawn().expect("spawn a child process")
}

/// `kill -9`: `Child::kill` sends SIGKILL on Unix, so the child gets no chance to clean up.
pub fn kill_9(child: &mut Child) {
    child.kill().expect("SIGKILL a child");
    let _ = child.wait();
}

/// Waits for a child to exit successfully within `limit`.
pub fn wait_success(child: &mut Child, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            assert!(status.success(), "child failed: {status}");
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("child {} did not finish within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An environment variable of a child.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child needs {name}"))
}
