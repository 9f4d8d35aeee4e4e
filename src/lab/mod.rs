//! The lab: reproduce the Nagle experiment with real kernel TCP.
