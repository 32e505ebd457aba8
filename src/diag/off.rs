//! The diagnostics' stand-ins where their features are off: zero-sized, every hook does
//! nothing and every question is answered "no", so the core compiles to what it would be
//! without them.

/// Stand-ins for `diag/trace.rs` (feature `tracing` off).
#[cfg(not(feature = "tracing"))]
pub(super) mod trace {
    use core::marker::PhantomData;

    use super::hazard::WaiterNote;
    use crate::diag::after::After;

    #[derive(Debug)]
    pub(crate) struct RequestTrace<P>(PhantomData<P>);

    #[derive(Clone, Copy)]
    pub(crate) struct Before;

    impl Before {
        #[inline(always)]
        pub(crate) fn is_quiet(&self) -> bool {
            true
        }

        #[inline(always)]
        pub(crate) fn wants_depth(&self) -> bool {
            false
        }
    }

    impl<P> Default for RequestTrace<P> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<P> RequestTrace<P> {
        #[inline(always)]
        pub(crate) fn new() -> Self {
            Self(PhantomData)
        }

        #[inline(always)]
        pub(crate) fn show_values(&mut self) {}

        #[cfg(feature = "std")]
        #[inline(always)]
        pub(crate) fn renewed(&self) -> Self {
            Self::new()
        }

        #[inline(always)]
        pub(crate) fn before_poll<'a>(
            &mut self,
            _watching: bool,
            _unqueued: impl FnOnce() -> Option<(&'a P, &'a mut WaiterNote)>,
        ) -> Before
        where
            P: 'a,
        {
            Before
        }

        #[inline(always)]
        pub(crate) fn after_poll(&mut self, _: Before, after: After, _: *const (), _: u32) {
            // Nothing to report; the facts are read only to be dropped.
            let _ = match after {
                After::Queued { depth } => depth,
                After::Granted { grants_waited } => grants_waited as usize,
                After::Failed => 0,
            };
        }

        #[inline(always)]
        pub(crate) fn cancelled(&mut self, _granted: bool, _: *const (), _: u32) {}
    }

    #[inline(always)]
    pub(crate) fn reports_close() -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn closed(_: *const (), _: usize) {}
}

/// Stand-ins for `diag/hazard.rs` (features `std` and `tracing` not both on).
#[cfg(not(all(feature = "std", feature = "tracing")))]
pub(super) mod hazard {
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct WaiterNote;

    impl WaiterNote {
        #[inline(always)]
        pub(crate) const fn new() -> Self {
            Self
        }

        #[cfg(feature = "tracing")]
        #[inline(always)]
        pub(crate) fn set_shown<S>(&mut self, _: S) {}
    }

    #[derive(Debug, Clone, Copy)]
    pub(crate) struct GrantNotes;

    impl GrantNotes {
        #[inline(always)]
        pub(crate) const fn new() -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn on_grant(&mut self, _: &mut WaiterNote, _seq: u32, _permits: u32) {}

        #[inline(always)]
        pub(crate) fn take(&mut self, _on: bool) -> Option<Self> {
            None
        }
    }

    #[derive(Debug)]
    pub(crate) struct Watch;

    impl Watch {
        #[inline(always)]
        pub(crate) const fn new() -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn is_on(&self) -> bool {
            false
        }

        #[inline(always)]
        pub(crate) fn absorb(&self, _: Option<GrantNotes>) {}

        #[inline(always)]
        pub(crate) fn claimed(&self, _: &WaiterNote) {}

        #[inline(always)]
        pub(crate) fn check(&self, _semaphore: *const ()) {}
    }
}
