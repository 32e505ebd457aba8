use prio_semaphore::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Urgency {
    Realtime,
    Batch,
}

fn main() {
    let sem: Semaphore<Urgency> = Semaphore::new_generic(1);
    let _request = sem.acquire().priority(Urgency::Realtime);
    let _ = Urgency::Batch;
}
