//! Exhaustive loom models live in `tests/`.
