//! Webhooks (issue #16, in progress): admins' endpoints receive Frontline's events, signed per
//! the Standard Webhooks specification, from an outbox written in the transaction of each
//! change. Landed so far: the signatures (`signing`), the rule of where a webhook may go
//! (`ssrf`) and the client that keeps to it (`client`); the outbox, the delivery worker and the
//! routes follow the events module.

pub mod client;
pub mod signing;
pub mod ssrf;
