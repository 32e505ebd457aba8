use prio_semaphore::Semaphore;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Urgency {
    Realtime,
    #[default]
    Batch,
}

static SEM: Semaphore<Urgency> = Semaphore::<Urgency>::new(4);

fn main() {
    let _ = (&SEM, Urgency::Realtime);
}
