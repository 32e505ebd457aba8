//! `RedisPermit`: a held lease, renewed in the background while it lives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::agent::{Command, Granted, Lease};
use crate::error::Error;
use crate::semaphore::Inner;
use crate::slot::{LeaseSignal, Slot};

/// Permits held from a [`RedisSemaphore`](crate::RedisSemaphore); dropping it gives
/// them back (one round trip, made by the semaphore's thread).
///
/// # Leases and fencing
///
/// The permit is a lease in Redis, renewed every third of the lease time while this value
/// lives. If renewals fail for a whole lease (Redis unreachable, the process paused), or
/// Redis reports the lease gone, the permit is *lost*: other processes may already hold
/// it. Check [`is_lost`](Self::is_lost) or await [`lost`](Self::lost) before acting, and
/// pass [`fencing_token`](Self::fencing_token) to the protected resource, which should
/// reject any token lower than the highest it has seen: that stops a holder that lost
/// its lease without noticing (a long GC pause) from doing damage.
#[must_use = "dropping a permit releases it at once"]
#[derive(Debug)]
pub struct RedisPermit {
    inner: Arc<Inner>,
    lease: Lease,
    signal: Arc<LeaseSignal>,
    released: bool,
}

impl RedisPermit {
    pub(crate) fn new(inner: Arc<Inner>, granted: Granted) -> Self {
        RedisPermit {
            inner,
            lease: granted.lease,
            signal: granted.signal,
            released: false,
        }
    }

    /// The fencing token of this grant: strictly greater than that of every earlier grant
    /// of this semaphore, in any process.
    pub fn fencing_token(&self) -> u64 {
        self.lease.token
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> u32 {
        self.lease.permits
    }

    /// Whether the lease is lost (not renewed within the lease, or gone from Redis).
    /// Once true it stays true.
    pub fn is_lost(&self) -> bool {
        self.signal.is_lost()
    }

    /// Completes when the lease is lost; race it against the protected work (e.g. with
    /// `tokio::select!`) to stop as soon as the permit can no longer be trusted.
    pub fn lost(&self) -> Lost<'_> {
        Lost {
            signal: &self.signal,
        }
    }

    /// Gives the permits back and waits for Redis to confirm (dropping the permit does
    /// the same without waiting). A lease already lost counts as released. On an error
    /// the semaphore's thread retries the release; at worst the lease expires.
    pub async fn release(mut self) -> Result<(), Error> {
        self.released = true;
        #[cfg(feature = "tokio")]
        if crate::fast::FastPath::available() {
            let lease = std::mem::take(&mut self.lease);
            return crate::fast::release(self.inner.clone(), lease).await;
        }
        let reply = Slot::new();
        let sent = self.inner.send(Command::Release {
            lease: std::mem::take(&mut self.lease),
            reply: Some(reply.clone()),
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
        if !self.released {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let lease = std::mem::take(&mut self.lease);
                crate::fast::release_in_background(&runtime, self.inner.clone(), lease);
                return;
            }
        }
        if !self.released {
            self.inner.send(Command::Release {
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
    signal: &'a LeaseSignal,
}

impl Future for Lost<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.poll_lost(cx)
    }
}
