//! The agent's own rules: [`filters`], [`limits`] and [`sizing`], in rank order.

pub mod filters;
pub mod limits;
pub mod sizing;
