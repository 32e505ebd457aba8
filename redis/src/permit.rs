//! `RedisPermit`: a held lease, renewed in the background while it lives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::command::{Command, Granted, Lease};
use crate::error::Error;
use crate::lease_state::LeaseState;
use crate::shared::Shared;
use crate::slot::Slot;

/// Permits held from a [`RedisSemaphore`](crate::RedisSemaphore); dropping it gives
/// them back (one round trip, made by the semaphore's thread).
///
/// # Leases and fencing
///
/// The permit is a lease in Redis, renewed every third of the lease time while this value
/// lives. This process counts the lease on its own clock from the send time of its last
/// successful renewal, less an allowance for clock drift; from that deadline on
/// ([`valid_until`](Self::valid_until)), or as soon as Redis reports the lease gone, the
/// permit is *lost*, and before Redis can give it to anyone else. The deadline is read
/// from the clock at each check, whatever the background thread is doing (blocked,
/// retrying, starved of CPU); the crate docs give the argument and the bound.
///
/// Check [`is_lost`](Self::is_lost) or await [`lost`](Self::lost) before acting, and
/// pass [`fencing_token`](Self::fencing_token) to the protected resource, which should
/// reject any token lower than the highest it has seen: that stops a holder that was
/// paused past its deadline (a long GC pause, `SIGSTOP`) and acts before checking.
#[must_use = "dropping a permit releases it at once"]
#[derive(Debug)]
pub struct RedisPermit {
    shared: Arc<Shared>,
    lease: Lease,
    state: Arc<LeaseState>,
    released: bool,
}

impl RedisPermit {
    pub(crate) fn new(shared: Arc<Shared>, granted: Granted) -> Self {
        RedisPermit {
            shared,
            lease: granted.lease,
            state: granted.state,
            released: false,
        }
    }

    /// The fencing token of this grant: strictly greater than that of every earlier grant
    /// of this semaphore, in any process.
    pub fn fencing_token(&self) -> u64 {
        self.lease.token
    }

    /// How many permits this holds (a `usize`, like the core crate's
    /// `Permit::num_permits`; requests are `u32`, as there).
    pub fn num_permits(&self) -> usize {
        self.lease.permits as usize
    }

    /// Whether the lease is lost: past [`valid_until`](Self::valid_until) by this
    /// process's clock, or reported gone by Redis. Once true it stays true. Reads the
    /// clock itself, so it is exact even while the background thread cannot run.
    pub fn is_lost(&self) -> bool {
        self.state.is_lost()
    }

    /// The instant until which this process is certain to hold the lease: the send time
    /// of its last successful renewal (or of the grant) plus the lease, less the clock
    /// drift allowance. Renewals move it later; a task that must finish while it holds the
    /// permit can use it as its own deadline.
    pub fn valid_until(&self) -> Instant {
        self.state.valid_until()
    }

    /// Completes when the lease is lost; race it against the protected work (e.g. with
    /// `tokio::select!`) to stop as soon as the permit can no longer be trusted. It
    /// completes at the deadline on any executor (the crate keeps its own timer).
    pub fn lost(&self) -> Lost<'_> {
        Lost { state: &self.state }
    }

    /// Gives the permits back and waits for Redis to confirm (dropping the permit does
    /// the same without waiting). A lease already lost counts as released. On an error
    /// the semaphore's thread retries the release; at worst the lease expires.
    pub async fn release(mut self) -> Result<(), Error> {
        self.released = true;
        #[cfg(feature = "tokio")]
        if crate::fast::available(&self.shared).is_some() {
            let lease = std::mem::take(&mut self.lease);
            return crate::fast::release(self.shared.clone(), lease).await;
        }
        let reply = Slot::new();
        let sent = self.shared.send(Command::Release {
            lease: std::mem::take(&mut self.lease),
            reply: Some((reply.clone(), self.shared.deadline())),
        });
        if !sent {
            return Err(Error::Stopped);
        }
        std::future::poll_fn(|cx| reply.poll_take(cx)).await
    }
}

impl Drop for RedisPermit {
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        if !self.released && self.shared.fast.is_some() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let lease = std::mem::take(&mut self.lease);
                crate::fast::release_in_background(&runtime, self.shared.clone(), lease);
                return;
            }
        }
        if !self.released {
            self.shared.send(Command::Release {
                lease: std::mem::take(&mut self.lease),
                reply: None,
            });
        }
    }
}

/// Completes when a permit's lease is lost; returned by [`RedisPermit::lost`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Lost<'a> {
    state: &'a Arc<LeaseState>,
}

impl Future for Lost<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.state.poll_lost(cx)
    }
}
