//! The agent's own validation rules, applied beside the exchange's instrument rules: which
//! symbols it trades ([`filters`]) and the account limits a new position must fit in
//! ([`limits`]). Both are pure; the session feeds them in rank order.

pub mod filters;
pub mod limits;
