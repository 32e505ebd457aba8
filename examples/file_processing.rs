//! Bounded parallel file processing: at most `LIMIT` files open and being worked on at
//! once.
//!
//! The third use case in the article “Semaphores in Python Async Programming: Real-World
//! Use Cases”: every file gets a task, and each task holds a permit while it reads its
//! file, transforms it (upper-cases it) and writes `processed_<name>`, so memory and open
//! files stay bounded however many files there are. Small files are given a more urgent
//! priority (the priority is the file's size), so quick jobs are not stuck behind large
//! ones. The example creates 60 files of 1 to 240 KiB in a fresh directory under
//! `std::env::temp_dir()`, processes them on smol, checks every output, and removes the
//! directory.
//!
//! What to look for: "at most 4 files in progress at once" (the limit held, and was
//! reached), and every output checked.
//!
//! Run it with `cargo run --example file_processing`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Instant;

use prio_semaphore::Semaphore;

const LIMIT: usize = 4;
const FILES: usize = 60;

/// Processes one file while holding a permit; the priority is its size, smallest first.
async fn process_file(
    sem: &Semaphore,
    in_progress: &AtomicUsize,
    peak: &AtomicUsize,
    path: &Path,
) -> io::Result<u64> {
    let size = smol::fs::metadata(path).await?.len();
    let _permit = sem
        .acquire()
        .priority(size as i64)
        .await
        .expect("never closed");
    peak.fetch_max(in_progress.fetch_add(1, SeqCst) + 1, SeqCst);
    let content = smol::fs::read_to_string(path).await?;
    let processed = content.to_uppercase();
    let name = path.file_name().unwrap().to_string_lossy();
    smol::fs::write(path.with_file_name(format!("processed_{name}")), processed).await?;
    in_progress.fetch_sub(1, SeqCst);
    Ok(size)
}

/// Creates `FILES` text files of different sizes in `dir`.
fn create_inputs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    (0..FILES)
        .map(|i| {
            let path = dir.join(format!("input_{i:02}.txt"));
            let size_kib = 1 + (i * 37) % 240; // a shuffled spread of sizes
            std::fs::write(&path, "lorem ipsum dolor sit amet\n".repeat(size_kib * 38))?;
            Ok(path)
        })
        .collect()
}

fn main() -> io::Result<()> {
    let dir = std::env::temp_dir().join(format!("prio-semaphore-files-{}", std::process::id()));
    let inputs = create_inputs(&dir)?;
    println!("created {} files in {}", inputs.len(), dir.display());

    let sem = Arc::new(Semaphore::new(LIMIT));
    let (in_progress, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let bytes: io::Result<u64> = smol::block_on(async {
        let tasks: Vec<_> = inputs
            .iter()
            .cloned()
            .map(|path| {
                let (sem, in_progress, peak) = (sem.clone(), in_progress.clone(), peak.clone());
                smol::spawn(async move { process_file(&sem, &in_progress, &peak, &path).await })
            })
            .collect();
        let mut bytes = 0;
        for task in tasks {
            bytes += task.await?;
        }
        Ok(bytes)
    });
    let bytes = bytes?;

    for input in &inputs {
        let name = input.file_name().unwrap().to_string_lossy();
        let output = std::fs::read_to_string(input.with_file_name(format!("processed_{name}")))?;
        assert_eq!(output, std::fs::read_to_string(input)?.to_uppercase());
    }
    std::fs::remove_dir_all(&dir)?;

    println!(
        "processed {} files ({} KiB) in {:.0} ms",
        inputs.len(),
        bytes / 1024,
        started.elapsed().as_secs_f64() * 1000.0
    );
    println!(
        "at most {} files in progress at once (limit {LIMIT})",
        peak.load(SeqCst)
    );
    println!("every output checked; removed {}", dir.display());
    Ok(())
}
