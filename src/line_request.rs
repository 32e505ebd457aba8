//! [`LineRequest`]: the core request a layer's future (`crate::fair`, `crate::share`)
//! creates at its first poll, once it knows its key and its line, kept pinned in place.

pin_project_lite::pin_project! {
    /// No core request yet (or no more), or the one the layer's future waits on.
    #[project = LineProj]
    pub(crate) enum LineRequest<F> {
        Idle,
        Waiting { #[pin] request: F },
    }
}
