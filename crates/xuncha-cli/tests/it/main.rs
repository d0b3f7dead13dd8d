//! The command line's end-to-end tests: the real `xuncha` binary, real servers on loopback,
//! real device databases. One test binary (one link, and its tests run side by side) with a
//! module per subject.

mod common;

mod bundles;
mod cli;
mod crash;
mod export;
mod faults;
mod load;
mod log;
mod province;
mod relay;
mod report;
mod round;
mod workflow;
