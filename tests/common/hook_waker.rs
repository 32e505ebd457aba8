//! A waker that runs test code when it is cloned, woken or dropped: the hostile wakers of
//! the tests (ones that re-enter the semaphore, or panic, from any of the three).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

/// What a [`hook_waker`] does, and how often each hook ran.
pub struct Hooks {
    on_clone: Box<dyn Fn() + Send + Sync>,
    on_wake: Box<dyn Fn() + Send + Sync>,
    on_drop: Box<dyn Fn() + Send + Sync>,
    clones: AtomicUsize,
    wakes: AtomicUsize,
    drops: AtomicUsize,
}

impl Hooks {
    /// Hooks that do nothing yet; set them with the `on_*` methods.
    pub fn new() -> Self {
        Self {
            on_clone: Box::new(|| {}),
            on_wake: Box::new(|| {}),
            on_drop: Box::new(|| {}),
            clones: AtomicUsize::new(0),
            wakes: AtomicUsize::new(0),
            drops: AtomicUsize::new(0),
        }
    }

    pub fn on_clone(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_clone = Box::new(f);
        self
    }

    pub fn on_wake(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_wake = Box::new(f);
        self
    }

    pub fn on_drop(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_drop = Box::new(f);
        self
    }

    pub fn clones(&self) -> usize {
        self.clones.load(Ordering::SeqCst)
    }

    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }
}

impl Default for Hooks {
    fn default() -> Self {
        Self::new()
    }
}

/// A waker whose clone, wake and drop run `hooks` (each counted before it runs, so a hook
/// that panics is still counted). Every clone shares the hooks; the returned `Arc` reads
/// the counts.
pub fn hook_waker(hooks: Hooks) -> (Arc<Hooks>, Waker) {
    let hooks = Arc::new(hooks);
    let data = Arc::into_raw(hooks.clone()).cast::<()>();
    // SAFETY: `data` is an `Arc<Hooks>` turned into a raw pointer, which is what every
    // function of `VTABLE` expects, and the waker owns that one reference.
    (hooks, unsafe {
        Waker::from_raw(RawWaker::new(data, &VTABLE))
    })
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
///
/// `data` came from `Arc::into_raw` of an `Arc<Hooks>` that is still owned by a waker.
unsafe fn hooks<'a>(data: *const ()) -> &'a Hooks {
    // SAFETY: the caller's condition keeps the `Hooks` alive while the waker is.
    unsafe { &*data.cast::<Hooks>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: called by `Waker::clone` on a waker made by `hook_waker`.
    let h = unsafe { hooks(data) };
    h.clones.fetch_add(1, Ordering::SeqCst);
    (h.on_clone)();
    // SAFETY: as above; the new waker owns one more reference.
    unsafe { Arc::increment_strong_count(data.cast::<Hooks>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    /// `wake` consumes the waker: it is dropped after the hook, even if the hook panics.
    struct DropAfter(*const ());
    impl Drop for DropAfter {
        fn drop(&mut self) {
            // SAFETY: the waker being consumed owns this reference.
            unsafe { drop_waker(self.0) }
        }
    }
    let _consumed = DropAfter(data);
    // SAFETY: as for `clone`.
    unsafe { wake_by_ref(data) };
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: as for `clone`.
    let h = unsafe { hooks(data) };
    h.wakes.fetch_add(1, Ordering::SeqCst);
    (h.on_wake)();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: as for `clone`. The reference is given back even if the hook panics.
    let owned = unsafe { Arc::from_raw(data.cast::<Hooks>()) };
    owned.drops.fetch_add(1, Ordering::SeqCst);
    (owned.on_drop)();
}
