//! Cross-crate scenarios: several devices, a real server on loopback, real SQLite files,
//! faults. One test binary (one compile and one link instead of one per subject, and its
//! tests run side by side) with a module per subject.

mod abuse;
mod app;
mod at_rest;
mod attachments;
mod authority;
mod background;
mod backup;
mod bad_bodies;
mod bundles;
mod merge_properties;
mod news;
mod numbers;
mod relay;
mod round;
mod sealed;
mod sync_scenarios;
mod tidy;
mod tls;
mod upgrade;
mod workflow_authority;
mod workflow_round;
