//! [`IntoPriority`]: what `.priority(p)` accepts.

use core::cmp::Reverse;

use crate::priority::FloatPriority;

/// A value that `.priority(p)` accepts for a semaphore whose priority type is `P`.
///
/// * **`P` itself**, for every priority type: your own enums, tuples, [`Reverse`],
///   [`FloatPriority`], ...
/// * **Any primitive integer for any primitive integer `P`**: `u8`, `i32`, `u64`, `usize`,
///   `i128`, ... all work with the default `i64`. Values that `P` can hold convert exactly.
///   Values beyond `P`'s range **saturate** to `P::MIN` or `P::MAX`: `u64::MAX` becomes
///   `i64::MAX`, `-1` becomes `0` for a `u32` priority.
/// * **`f64` and `f32`** for [`FloatPriority`].
/// * **An integer `T` for `Reverse<U>`**, under the rule for `T` into `U`, so a
///   `Semaphore<Reverse<i64>>` (larger served first) takes `.priority(5)` as well as
///   `.priority(Reverse(5))`.
///
/// # Why saturate
///
/// A priority only matters through its order, and saturation keeps the order: a larger
/// input never becomes a smaller priority. Out-of-range values only tie at the end of the
/// range, and ties are served in arrival order. The alternatives would turn an unusual but
/// harmless value (a `u64` hash, `usize::MAX` as "least urgent") into a panic in the middle
/// of a request, or an error type on every `.priority` call.
///
/// # Your own types
///
/// Implement it to let `.priority` take your own values:
///
/// ```
/// use prio_semaphore::{IntoPriority, Semaphore};
///
/// #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
/// enum Class { Realtime, #[default] Batch }
///
/// struct Request { interactive: bool }
///
/// impl IntoPriority<Class> for &Request {
///     fn into_priority(self) -> Class {
///         if self.interactive { Class::Realtime } else { Class::Batch }
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let sem: Semaphore<Class> = Semaphore::new_generic(1);
/// let request = Request { interactive: true };
/// let permit = sem.acquire().priority(&request).await.unwrap();
/// # drop(permit);
/// # });
/// ```
///
/// # Examples
///
/// ```
/// use prio_semaphore::IntoPriority;
///
/// let p: i64 = 7usize.into_priority();
/// assert_eq!(p, 7);
/// let p: i64 = u64::MAX.into_priority();
/// assert_eq!(p, i64::MAX); // saturates: still served after every smaller value
/// let p: u8 = (-3i32).into_priority();
/// assert_eq!(p, 0);
/// ```
pub trait IntoPriority<P> {
    /// Converts `self` into the priority type `P`.
    fn into_priority(self) -> P;
}

impl<P> IntoPriority<P> for P {
    #[inline]
    fn into_priority(self) -> P {
        self
    }
}

impl IntoPriority<FloatPriority> for f64 {
    #[inline]
    fn into_priority(self) -> FloatPriority {
        FloatPriority(self)
    }
}

impl IntoPriority<FloatPriority> for f32 {
    #[inline]
    fn into_priority(self) -> FloatPriority {
        FloatPriority(self.into())
    }
}

/// `IntoPriority<$to>` (saturating) and `IntoPriority<Reverse<$to>>` for each `$from`
/// other than `$to` itself (that is the identity above).
macro_rules! saturating_from {
    ($to:ty: $($from:ty),*) => {$(
        impl IntoPriority<$to> for $from {
            #[inline]
            fn into_priority(self) -> $to {
                match <$to>::try_from(self) {
                    Ok(value) => value,
                    // Out of range: on the side of the range the value lies on. Every
                    // integer type holds 0, so a value below 0 failed against `MIN`.
                    Err(_) if self > (0 as $from) => <$to>::MAX,
                    Err(_) => <$to>::MIN,
                }
            }
        }

        impl IntoPriority<Reverse<$to>> for $from {
            #[inline]
            fn into_priority(self) -> Reverse<$to> {
                Reverse(self.into_priority())
            }
        }
    )*};
}

/// Every pair of distinct primitive integer types.
macro_rules! integers {
    ($($to:ty: [$($from:ty),*];)*) => {$(
        saturating_from!($to: $($from),*);
        impl IntoPriority<Reverse<$to>> for $to {
            #[inline]
            fn into_priority(self) -> Reverse<$to> {
                Reverse(self)
            }
        }
    )*};
}

integers! {
    i8: [i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize];
    i16: [i8, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize];
    i32: [i8, i16, i64, i128, isize, u8, u16, u32, u64, u128, usize];
    i64: [i8, i16, i32, i128, isize, u8, u16, u32, u64, u128, usize];
    i128: [i8, i16, i32, i64, isize, u8, u16, u32, u64, u128, usize];
    isize: [i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, usize];
    u8: [i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize];
    u16: [i8, i16, i32, i64, i128, isize, u8, u32, u64, u128, usize];
    u32: [i8, i16, i32, i64, i128, isize, u8, u16, u64, u128, usize];
    u64: [i8, i16, i32, i64, i128, isize, u8, u16, u32, u128, usize];
    u128: [i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, usize];
    usize: [i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to<P, T: IntoPriority<P>>(value: T) -> P {
        value.into_priority()
    }

    #[test]
    fn boundaries_saturate_in_order() {
        assert_eq!(to::<i64, _>(u64::MAX), i64::MAX);
        assert_eq!(to::<i64, _>(usize::MAX), i64::MAX);
        assert_eq!(to::<i64, _>(i128::MAX), i64::MAX);
        assert_eq!(to::<i64, _>(i128::MIN), i64::MIN);
        assert_eq!(to::<i64, _>(u128::MAX), i64::MAX);
        assert_eq!(to::<i64, _>(i64::MAX as u64), i64::MAX);
        assert_eq!(to::<i64, _>(i64::MAX as u64 + 1), i64::MAX);
        assert_eq!(to::<i64, _>(-1i128), -1);
        assert_eq!(to::<u8, _>(-1i64), 0);
        assert_eq!(to::<u8, _>(256u16), u8::MAX);
        assert_eq!(to::<u64, _>(i64::MIN), 0);
        assert_eq!(to::<i8, _>(i64::MIN), i8::MIN);
        assert_eq!(to::<Reverse<i64>, _>(u64::MAX), Reverse(i64::MAX));
        assert_eq!(to::<Reverse<u8>, _>(3u8), Reverse(3));
    }

    #[test]
    fn exact_within_range() {
        for v in [-5i128, 0, 1, 1 << 40, i64::MAX as i128, i64::MIN as i128] {
            assert_eq!(to::<i64, _>(v) as i128, v);
        }
        assert_eq!(to::<i64, _>(7usize), 7);
        assert_eq!(to::<i64, _>(7u64), 7);
    }
}
