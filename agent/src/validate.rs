//! The agent's own validation rules, applied beside the exchange's instrument rules: which
//! symbols it trades ([`filters`]) and the account limits a new position must fit in
//! ([`limits`]), and the order's size in USD ([`sizing`]). The session feeds them in rank order.

pub mod filters;
pub mod limits;
pub mod sizing;
