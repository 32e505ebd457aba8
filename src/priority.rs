//! Priority types that need a little help to be totally ordered.

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
