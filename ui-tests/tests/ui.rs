//! Each mistake a new user makes gets a message that names the fix (`tests/ui/*.stderr`),
//! and what used to need a workaround compiles (`tests/ui/pass_*.rs`).
#![cfg(not(miri))]

#[test]
fn compile_errors_name_the_fix() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail_*.rs");
    cases.pass("tests/ui/pass_*.rs");
}
