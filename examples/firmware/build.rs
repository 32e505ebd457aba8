//! Picks the board from the target and copies its memory layout to `$OUT_DIR/memory.x`,
//! where the linker finds it: cortex-m-rt's `link.x` includes `memory.x`. (No file of that
//! name lies in the crate root, which the linker would search first.)
//!
//! * `thumbv7em-none-eabihf`: QEMU's `mps2-an386` (Cortex-M4, with compare-and-swap).
//! * `thumbv6m-none-eabi`: QEMU's `microbit` (nRF51, Cortex-M0: no compare-and-swap, so the
//!   semaphore's atomics go through `portable-atomic` and the critical section).

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let (board, memory) = if target.starts_with("thumbv6m") {
        ("microbit", "memory-microbit.x")
    } else {
        ("mps2_an386", "memory-mps2-an386.x")
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(memory, out.join("memory.x")).expect("copy the memory layout");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-cfg=board=\"{board}\"");
    println!("cargo:rustc-check-cfg=cfg(board, values(\"microbit\", \"mps2_an386\"))");
    println!("cargo:rerun-if-changed=memory-mps2-an386.x");
    println!("cargo:rerun-if-changed=memory-microbit.x");
    println!("cargo:rerun-if-changed=build.rs");
}
