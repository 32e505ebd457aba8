//! Each mistake a new user makes gets a message that names the fix (`tests/ui/*.stderr`),
//! and what used to need a workaround compiles (`tests/ui/pass_*.rs`).
#![cfg(not(miri))]

use std::process::Command;

/// The toolchain the `.stderr` files were written with (CI's). rustc renders the rest of a
/// diagnostic differently from one release to the next, so the exact comparison runs on
/// this one only; every toolchain checks that the `pass_*` cases compile.
const STDERR_WRITTEN_WITH: &str = "rustc 1.95.";

#[test]
fn compile_errors_name_the_fix() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass_*.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    if version.starts_with(STDERR_WRITTEN_WITH) {
        cases.compile_fail("tests/ui/fail_*.rs");
    } else {
        eprintln!(
            "{}: the compile errors are compared with `{STDERR_WRITTEN_WITH}*` only",
            version.trim()
        );
    }
}
