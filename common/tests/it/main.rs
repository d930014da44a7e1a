//! The integration tests of this crate as one test binary (one link, one process).
mod support;

mod properties;
mod worked_example;
