//! The [`Gate`]s of an [`Unordered`]: what a future must hold, besides a free slot, before
//! it starts. Nothing ([`NoGate`]), a permit of a borrowed semaphore ([`SemaphoreGate`]) or
//! one of a shared semaphore ([`OwnedSemaphoreGate`]).

use alloc::sync::Arc;
use core::convert::Infallible;
use core::fmt;
use core::future::Future;

use crate::acquire::Acquire;
use crate::acquire::AcquireOwned;
use crate::error::AcquireError;
use crate::lock::RawLock;
use crate::permit::OwnedPermit;
use crate::permit::Permit;
use crate::semaphore::Semaphore;

// Only the docs link to it.
#[cfg(doc)]
use super::Unordered;

pub(super) mod sealed {
    pub trait Sealed {}
}

/// What a future must hold, besides a free slot, before an [`Unordered`] starts it.
///
/// Implemented by [`NoGate`] (nothing more), [`SemaphoreGate`] (a permit of a borrowed
/// [`Semaphore`]) and [`OwnedSemaphoreGate`] (an owned permit of an `Arc<Semaphore>`). It
/// is sealed: the stream's guarantees rest on how these acquire and release.
///
/// # Examples
///
/// Code that works with any `Unordered`, gated or not:
///
/// ```
/// use futures::Stream;
/// use prio_semaphore::limited::{self, Gate, Unordered};
/// use prio_semaphore::Semaphore;
///
/// fn occupancy<S: Stream, G: Gate>(stream: &Unordered<S, G>) -> String {
///     format!("{}/{} running", stream.running(), stream.limit())
/// }
///
/// let sem = Semaphore::new(2);
/// let plain = limited::unordered([async { 1 }], 4);
/// assert_eq!(occupancy(&plain), "0/4 running");
/// assert_eq!(occupancy(&plain.with_semaphore(&sem, 1)), "0/4 running");
/// ```
pub trait Gate: sealed::Sealed {
    /// Held by a running future, dropped (released) when the future completes.
    type Permit;
    /// Why a permit could not be acquired: [`AcquireError`] for semaphores.
    type Error;
    /// The request for one permit, queued while the stream waits for it.
    type Acquire: Future<Output = Result<Self::Permit, Self::Error>>;

    /// Starts a request for one permit.
    #[doc(hidden)]
    fn acquire(&self) -> Self::Acquire;

    /// Whether acquiring can fail, ending the input early.
    #[doc(hidden)]
    const FALLIBLE: bool;

    /// What the stream yields for a future's output `O`: `O` itself if acquiring cannot
    /// fail, `Result<O, Self::Error>` if it can.
    #[doc(hidden)]
    type Item<O>;

    /// The item for a future's output, or for the error that closed the input.
    #[doc(hidden)]
    fn into_item<O>(event: Result<O, Self::Error>) -> Self::Item<O>;
}

/// The [`Gate`] of a plain [`Unordered`]: a free slot is all a future needs.
///
/// # Examples
///
/// ```
/// use prio_semaphore::limited::{self, NoGate, Unordered};
///
/// let stream: Unordered<_, NoGate> = limited::unordered([async { 1 }], 4);
/// # drop(stream);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGate;

impl sealed::Sealed for NoGate {}

impl Gate for NoGate {
    type Permit = ();
    type Error = Infallible;
    type Acquire = core::future::Ready<Result<(), Infallible>>;

    fn acquire(&self) -> Self::Acquire {
        core::future::ready(Ok(()))
    }

    const FALLIBLE: bool = false;

    type Item<O> = O;

    fn into_item<O>(event: Result<O, Infallible>) -> O {
        match event {
            Ok(output) => output,
            Err(never) => match never {},
        }
    }
}

/// The [`Gate`] set by [`Unordered::with_semaphore`]: each future holds one permit of a
/// borrowed [`Semaphore`], requested at a fixed priority.
///
/// # Examples
///
/// ```
/// use prio_semaphore::limited::{self, SemaphoreGate, Unordered};
/// use prio_semaphore::Semaphore;
///
/// let database = Semaphore::new(10);
/// let batch: Unordered<_, SemaphoreGate<'_>> =
///     limited::unordered((0..100).map(|i| async move { i }), 8).with_semaphore(&database, 10);
/// # drop(batch);
/// ```
pub struct SemaphoreGate<'a, P = i64, L: RawLock = crate::SpinLock> {
    pub(super) semaphore: &'a Semaphore<P, L>,
    pub(super) priority: P,
}

impl<P, L: RawLock> sealed::Sealed for SemaphoreGate<'_, P, L> {}

impl<'a, P, L> Gate for SemaphoreGate<'a, P, L>
where
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    type Permit = Permit<'a, P, L>;
    type Error = AcquireError;
    type Acquire = Acquire<'a, P, L>;

    fn acquire(&self) -> Self::Acquire {
        self.semaphore.acquire().priority(self.priority.clone())
    }

    const FALLIBLE: bool = true;

    type Item<O> = Result<O, AcquireError>;

    fn into_item<O>(event: Result<O, AcquireError>) -> Self::Item<O> {
        event
    }
}

impl<P: fmt::Debug, L: RawLock> fmt::Debug for SemaphoreGate<'_, P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGate")
            .field("semaphore", self.semaphore)
            .field("priority", &self.priority)
            .finish()
    }
}

/// The [`Gate`] set by [`Unordered::with_semaphore_owned`]: each future holds one owned
/// permit of a shared [`Semaphore`], requested at a fixed priority.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use prio_semaphore::limited::{self, OwnedSemaphoreGate, Unordered};
/// use prio_semaphore::Semaphore;
///
/// fn assert_static<T: 'static>(_: &T) {}
///
/// let database = Arc::new(Semaphore::new(10));
/// let batch: Unordered<_, OwnedSemaphoreGate> =
///     limited::unordered((0..100).map(|i| async move { i }), 8)
///         .with_semaphore_owned(database, 10);
/// assert_static(&batch); // borrows nothing
/// ```
pub struct OwnedSemaphoreGate<P = i64, L: RawLock = crate::SpinLock> {
    pub(super) semaphore: Arc<Semaphore<P, L>>,
    pub(super) priority: P,
}

impl<P, L: RawLock> sealed::Sealed for OwnedSemaphoreGate<P, L> {}

impl<P, L> Gate for OwnedSemaphoreGate<P, L>
where
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    type Permit = OwnedPermit<P, L>;
    type Error = AcquireError;
    type Acquire = AcquireOwned<P, L>;

    fn acquire(&self) -> Self::Acquire {
        Arc::clone(&self.semaphore)
            .acquire_owned()
            .priority(self.priority.clone())
    }

    const FALLIBLE: bool = true;

    type Item<O> = Result<O, AcquireError>;

    fn into_item<O>(event: Result<O, AcquireError>) -> Self::Item<O> {
        event
    }
}

impl<P: fmt::Debug, L: RawLock> fmt::Debug for OwnedSemaphoreGate<P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphoreGate")
            .field("semaphore", &self.semaphore)
            .field("priority", &self.priority)
            .finish()
    }
}
