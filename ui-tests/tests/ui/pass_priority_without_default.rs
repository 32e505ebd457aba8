use prio_semaphore::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Urgency {
    Realtime,
    Batch,
}

fn main() {
    let sem: Semaphore<Urgency> = Semaphore::new_generic(1);
    let _realtime = sem.acquire_at(Urgency::Realtime);
    let _batch = sem.acquire_many_at(2, Urgency::Batch).queue_limit(8);
}
