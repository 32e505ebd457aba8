//! The leases one handle holds, shared between the semaphore's thread (which renews them)
//! and callers on the fast path (which add and remove them without waking it).
//!
//! Each entry shares its [`LeaseState`] with the permit, so a renewal recorded here moves
//! the deadline the permit reads, and a loss marked here is what the permit reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::command::Lease;
use crate::lease_state::LeaseState;

#[derive(Debug)]
struct Held {
    state: Arc<LeaseState>,
    permits: u32,
    token: u64,
}

/// Leases by member (a member names one waiter, so one lease, within a process).
#[derive(Debug, Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<String, Held>>,
}

impl Leases {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        // Every update is one map operation: a panic elsewhere cannot leave it half-done.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts renewing a lease.
    pub(crate) fn adopt(&self, lease: &Lease, state: Arc<LeaseState>) {
        let held = Held {
            state,
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

    /// Records a renewal of `leases` by a call sent at `sent` that holds them until
    /// `until`. Returns those it could not renew because their deadline had passed before
    /// the call was sent: they are lost, and given back.
    pub(crate) fn renewed(&self, leases: &[Lease], sent: Instant, until: Instant) -> Vec<Lease> {
        let mut lost = Vec::new();
        let mut states = Vec::new();
        {
            let mut held = self.lock();
            for lease in leases {
                if let Some(entry) = held.get(&lease.member) {
                    if !entry.state.renewed(sent, until) {
                        states.extend(held.remove(&lease.member).map(|h| h.state));
                        lost.push(lease.clone());
                    }
                }
            }
        }
        states.iter().for_each(|state| state.mark_lost());
        lost
    }

    /// Marks a lease lost (Redis no longer has it) and stops renewing it.
    pub(crate) fn lose(&self, member: &str) {
        let lease = self.lock().remove(member);
        if let Some(lease) = lease {
            lease.state.mark_lost();
        }
    }

    /// Takes out every lease past its deadline (now lost), to give back.
    pub(crate) fn take_lost(&self) -> Vec<Lease> {
        let taken: Vec<(String, Held)> = {
            let mut held = self.lock();
            let members: Vec<String> = held
                .iter()
                .filter(|(_, h)| h.state.past_deadline())
                .map(|(m, _)| m.clone())
                .collect();
            members
                .into_iter()
                .filter_map(|member| held.remove(&member).map(|h| (member, h)))
                .collect()
        };
        taken
            .into_iter()
            .map(|(member, held)| {
                held.state.mark_lost();
                Lease {
                    member,
                    permits: held.permits,
                    token: held.token,
                }
            })
            .collect()
    }

    /// Marks every lease lost.
    pub(crate) fn lose_all(&self) {
        let all: Vec<Held> = self.lock().drain().map(|(_, h)| h).collect();
        for lease in all {
            lease.state.mark_lost();
        }
    }
}
