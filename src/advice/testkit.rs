//! Builders for the rules' unit tests.
