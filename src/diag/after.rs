//! [`After`]: how an observed poll ended, as the core reports it to the diagnostics.

/// How an observed poll ended.
#[derive(Clone, Copy)]
pub(crate) enum After {
    /// In line; `depth` is the number of queued requests (0 unless the hook asked for it).
    Queued { depth: usize },
    /// Granted; `grants_waited` is how many requests were served while it waited.
    Granted { grants_waited: u32 },
    /// The semaphore was closed (or the request was too large).
    Failed,
}
