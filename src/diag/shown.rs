//! A priority as events show it (feature `tracing`), and the events' target.
//!
//! A priority is shown by value when its type is a primitive integer (`i128` and `u128`
//! within 64 bits), `f32`, `f64` or [`FloatPriority`], and by its type's name otherwise:
//! the crate cannot ask for `P: Debug` (enabling a feature must not add bounds), so it
//! recognises those types by [`TypeId`](core::any::TypeId), copying the number out before
//! the request joins the line. No user code runs to show a priority.

use core::any::Any;
use core::fmt;

use crate::priority::FloatPriority;

/// The target of every event.
pub(crate) const TARGET: &str = "prio_semaphore";

/// A priority as events show it: a number copied out, or the type's name.
#[derive(Clone, Copy)]
pub(crate) enum Shown {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Type(&'static str),
}

impl Shown {
    /// What an event shows when the priority was not copied.
    pub(crate) const UNKNOWN: Self = Shown::Type("?");
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Signed(v) => write!(f, "{v}"),
            Shown::Unsigned(v) => write!(f, "{v}"),
            Shown::Float(v) => write!(f, "{v}"),
            Shown::Type(name) => write!(f, "<{name}>"),
        }
    }
}

/// Shows `p` by value if its type is one of those listed in the module docs.
pub(crate) fn show_value<P: 'static>(p: &P) -> Shown {
    let any: &dyn Any = p;
    macro_rules! try_types {
        ($variant:ident as $wide:ty: $($t:ty),*) => {$(
            if let Some(v) = any.downcast_ref::<$t>() {
                return Shown::$variant(*v as $wide);
            }
        )*};
    }
    try_types!(Signed as i64: i64, i32, i8, i16, isize);
    try_types!(Unsigned as u64: u64, u32, u8, u16, usize);
    try_types!(Float as f64: f64, f32);
    if let Some(v) = any
        .downcast_ref::<i128>()
        .and_then(|v| i64::try_from(*v).ok())
    {
        return Shown::Signed(v);
    }
    if let Some(v) = any
        .downcast_ref::<u128>()
        .and_then(|v| u64::try_from(*v).ok())
    {
        return Shown::Unsigned(v);
    }
    if let Some(v) = any.downcast_ref::<FloatPriority>() {
        return Shown::Float(v.0);
    }
    show_type(p)
}

/// Shows `p` by its type's name: for requests created where `P: 'static` is not known.
pub(crate) fn show_type<P>(_: &P) -> Shown {
    Shown::Type(core::any::type_name::<P>())
}
