//! What a priority type needs: a default for requests made without one
//! ([`DefaultPriority`]), and help for floats to be totally ordered ([`FloatPriority`]).

use core::cmp::Ordering;

/// A floating-point priority with a total order, for `Semaphore<FloatPriority>`.
///
/// `f64` is not [`Ord`] (NaN compares with nothing), so it cannot order a wait list by
/// itself. `FloatPriority` orders like `<` on ordinary numbers (smaller is served first, as
/// everywhere in this crate) and defines the rest:
///
/// * every NaN compares **greater** than every number, so NaN priorities are served last,
///   in arrival order among themselves;
/// * `-0.0` and `0.0` are equal (served in arrival order).
///
/// # Examples
///
/// ```
/// use prio_semaphore::{FloatPriority, Semaphore};
///
/// # futures::executor::block_on(async {
/// let sem: Semaphore<FloatPriority> = Semaphore::new_generic(1);
/// // `From<f64>` lets `.priority` take plain floats.
/// let permit = sem.acquire().priority(0.25).await.unwrap();
/// # drop(permit);
/// # });
/// assert!(FloatPriority::from(0.5) < FloatPriority::from(1.5));
/// assert!(FloatPriority::from(f64::INFINITY) < FloatPriority::from(f64::NAN));
/// assert_eq!(FloatPriority::from(-0.0), FloatPriority::from(0.0));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FloatPriority(pub f64);

impl FloatPriority {
    /// The wrapped value.
    ///
    /// ```
    /// assert_eq!(prio_semaphore::FloatPriority::from(0.5).get(), 0.5);
    /// ```
    pub fn get(self) -> f64 {
        self.0
    }
}

impl From<f64> for FloatPriority {
    fn from(value: f64) -> Self {
        Self(value)
    }
}

impl From<f32> for FloatPriority {
    fn from(value: f32) -> Self {
        Self(value.into())
    }
}

impl Ord for FloatPriority {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.0.is_nan(), other.0.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            // Neither is NaN, so `partial_cmp` is total here.
            (false, false) => self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal),
        }
    }
}

impl PartialOrd for FloatPriority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for FloatPriority {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for FloatPriority {}

/// A priority type whose requests may be made without a priority: `Default + Clone +
/// 'static`, implemented for every such type.
///
/// [`Semaphore::acquire`](crate::Semaphore::acquire) and its variants need it because a
/// request made there waits at the ambient priority (`with_priority`, feature `std`), and
/// otherwise at `P::default()`. A priority type without a `Default` still works with every
/// request that is given its priority when it is made:
/// [`Semaphore::acquire_at`](crate::Semaphore::acquire_at) and its variants.
///
/// # Examples
///
/// ```
/// use prio_semaphore::Semaphore;
///
/// #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
/// enum Urgency { Realtime, Batch } // no `Default`
///
/// # futures::executor::block_on(async {
/// let sem: Semaphore<Urgency> = Semaphore::new_generic(1);
/// let permit = sem.acquire_at(Urgency::Batch).await.unwrap();
/// # drop(permit);
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "`acquire()` without a priority needs a default priority, and `{Self}` has no `Default`",
    label = "`{Self}` has no `Default`",
    note = "give the priority when making the request, `sem.acquire_at(priority)` (also `acquire_many_at`, `acquire_owned_at`, `acquire_many_owned_at`), or derive `Default` for `{Self}` (`#[derive(Default)]` with `#[default]` on the variant a plain `acquire()` should wait at)"
)]
pub trait DefaultPriority: Default + Clone + 'static {}

impl<P: Default + Clone + 'static> DefaultPriority for P {}
