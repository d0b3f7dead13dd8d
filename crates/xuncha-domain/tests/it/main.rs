//! The record model's tests: one test binary (one compile and one link instead of one per
//! subject, and its tests run side by side) with a module per subject.

mod layout1;
mod malformed;
mod records;
mod rules;
mod workflow_properties;
