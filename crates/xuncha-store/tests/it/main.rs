//! The device database's tests on real files: one test binary (one compile and one link
//! instead of one per subject, and its tests run side by side) with a module per subject.

mod filter;
mod samples;
mod store;
