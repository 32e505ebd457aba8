//! The leases this handle holds, shared between the semaphore's thread (which renews
//! them) and callers on the fast path (which add and remove them without waking it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::command::Lease;
use crate::slot::LeaseSignal;

/// A lease, with the time the call that last renewed it was sent: Redis keeps it at
/// least until then + lease, so past that it must be presumed lost.
#[derive(Debug)]
struct Held {
    signal: Arc<LeaseSignal>,
    renewed_at: Instant,
    permits: u32,
    token: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<String, Held>>,
}

impl Leases {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        // Every update is one map operation: a panic elsewhere cannot leave it half-done.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts renewing a lease granted by a call sent at `renewed_at`.
    pub(crate) fn adopt(&self, lease: &Lease, signal: Arc<LeaseSignal>, renewed_at: Instant) {
        let held = Held {
            signal,
            renewed_at,
            permits: lease.permits,
            token: lease.token,
        };
        self.lock().insert(lease.member.clone(), held);
    }

    /// Stops renewing a lease (it is being released).
    pub(crate) fn forget(&self, member: &str) {
        self.lock().remove(member);
    }

    pub(crate) fn contains(&self, member: &str) -> bool {
        self.lock().contains_key(member)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Every lease held, to renew.
    pub(crate) fn all(&self) -> Vec<Lease> {
        self.lock()
            .iter()
            .map(|(member, held)| Lease {
                member: member.clone(),
                permits: held.permits,
                token: held.token,
            })
            .collect()
    }

    /// Records a successful renewal of `leases`, sent at `sent`.
    pub(crate) fn renewed(&self, leases: &[Lease], sent: Instant) {
        let mut held = self.lock();
        for renewed in leases {
            if let Some(lease) = held.get_mut(&renewed.member) {
                lease.renewed_at = sent;
            }
        }
    }

    /// Marks a lease lost (Redis no longer has it) and stops renewing it.
    pub(crate) fn lose(&self, member: &str) {
        let lease = self.lock().remove(member);
        if let Some(lease) = lease {
            lease.signal.mark_lost();
        }
    }

    /// Marks lost every lease not renewed within `lease` of `now`.
    pub(crate) fn expire(&self, lease: Duration, now: Instant) {
        let expired: Vec<Held> = {
            let mut held = self.lock();
            let members: Vec<String> = held
                .iter()
                .filter(|(_, h)| now.duration_since(h.renewed_at) >= lease)
                .map(|(m, _)| m.clone())
                .collect();
            members.iter().filter_map(|m| held.remove(m)).collect()
        };
        for lease in expired {
            lease.signal.mark_lost();
        }
    }

    /// Marks every lease lost.
    pub(crate) fn lose_all(&self) {
        let all: Vec<Held> = self.lock().drain().map(|(_, h)| h).collect();
        for lease in all {
            lease.signal.mark_lost();
        }
    }
}
