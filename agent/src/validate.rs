//! The agent's own validation rules beside the exchange's: symbol [`filters`], account
//! [`limits`] and the order's size in USD ([`sizing`]), fed in rank order by the session.

pub mod filters;
pub mod limits;
pub mod sizing;
