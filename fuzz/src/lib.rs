//! Shared fuzz target bodies; see `targets`.
pub mod targets;
