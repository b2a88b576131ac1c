//! Webhooks (issue #16, in progress): admins' endpoints receive Frontline's events, signed per
//! the Standard Webhooks specification, from an outbox written in the transaction of each
//! change. Landed so far: the signatures (`signing`) and the rule of where a webhook may go
//! (`ssrf`); the outbox, the delivery worker and the routes follow the events module.

pub mod signing;
pub mod ssrf;
