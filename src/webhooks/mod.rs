//! Webhooks: admins register endpoints that receive Frontline's events, signed per the
//! Standard Webhooks specification, from an outbox written in the transaction of each change.
//!
//! - `outbox`: the sink of `events::emit` (one message per event per endpoint that wants its
//!   type, written with the change: an event exists for a webhook exactly when it committed).
//! - `delivery`: the worker every server process runs. It leases due messages with
//!   `FOR UPDATE SKIP LOCKED` (processes share the work; a process that dies mid-delivery
//!   leaves its lease to run out and the message to the next), signs each attempt when it is
//!   sent, retries on a schedule, logs every attempt and disables an endpoint that keeps failing.
//! - `render`: the bodies (Standard Webhooks JSON, Slack, Microsoft Teams), named when sent.
//! - `endpoints`: registering, changing, rotating and removing endpoints, each audited.
//! - `log`: an endpoint's messages and attempts (the delivery log).
//! - `routes`: the admins' HTTP edge (`/api/v1/webhooks`).
//! - `signing`: the signatures. Where a webhook may go, and the HTTP client that keeps to it,
//!   are `outbound`'s (shared with single sign-on).

pub mod delivery;
pub mod endpoints;
pub mod log;
pub mod outbox;
pub mod render;
pub mod routes;
pub mod signing;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::events::Kind;
use crate::vocabulary::vocabulary;

pub use delivery::Delivery;
pub use routes::WebhooksApi;

/// The most endpoints an organisation may register.
pub const MAX_ENDPOINTS: i64 = 20;

/// The event type of the test message an admin may send (`POST /webhooks/{id}/test`).
pub const TEST_EVENT: &str = "webhook.test";

vocabulary!(
    /// The body an endpoint receives.
    #[schema(as = WebhookFormat)]
    Format {
        /// Standard Webhooks JSON: `{"type", "timestamp", "data"}`.
        Standard = "standard",
        /// A Slack incoming webhook's message (`text` and `blocks`).
        Slack = "slack",
        /// A Microsoft Teams workflow's message (an Adaptive Card).
        Teams = "teams",
    } field = "format"
);

vocabulary!(
    /// Why an endpoint is disabled.
    #[schema(as = WebhookDisabledReason)]
    DisabledReason {
        /// An admin switched it off.
        Admin = "admin",
        /// Every attempt failed for `webhook_disable_after_hours`.
        Failing = "failing",
        /// The receiver answered `410 Gone`.
        Gone = "gone",
    }
);

vocabulary!(
    /// Where a message is.
    #[schema(as = WebhookMessageStatus)]
    MessageStatus {
        /// To be sent (again) at `next_attempt_at`.
        Pending = "pending",
        Delivered = "delivered",
        /// The retry schedule ran out; an admin may redeliver it.
        Failed = "failed",
    } field = "status"
);

/// A registered endpoint (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// The event types it receives.
    pub event_types: Vec<Kind>,
    pub format: Format,
    pub enabled: bool,
    pub disabled_reason: Option<DisabledReason>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// The first failed attempt since the last success; none while it is healthy.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs too (a second signature).
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Messages waiting to be sent (at most 10,000 counted).
    pub pending: i64,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint just registered, or its secret just rotated: the secret, this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The signing secret (`whsec_` + base64), for the receiver's Standard Webhooks library.
    /// Shown this once.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where to POST (https; a host resolving to a loopback, private, link-local or metadata
    /// address is refused unless the server allows its network). At most 2,000 characters.
    pub url: String,
    /// The event types to receive (at least one).
    pub event_types: Vec<Kind>,
    /// At most 200 characters.
    pub description: Option<String>,
    /// Default `standard`.
    pub format: Option<Format>,
}

/// What to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub event_types: Option<Vec<Kind>>,
    pub description: Option<String>,
    pub format: Option<Format>,
    /// `false` disables it (nothing is queued for it meanwhile); `true` enables it again,
    /// whatever disabled it, and sends what was waiting.
    pub enabled: Option<bool>,
}

/// The last attempt at a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastAttempt {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status; none when nothing was answered.
    pub status_code: Option<i32>,
    /// Why nothing was answered (refused address, timeout, connection).
    pub error: Option<String>,
}

/// One message of an endpoint: an event to deliver (the log's row).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookMessage {
    pub id: Uuid,
    /// The `webhook-id` header it is sent with (the same on every attempt).
    pub webhook_id: String,
    pub event_type: String,
    pub status: MessageStatus,
    /// Attempts since it was queued or last redelivered.
    pub attempts: i32,
    pub occurred_at: DateTime<Utc>,
    /// When it is tried next (pending messages).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_attempt: Option<LastAttempt>,
}

/// One delivery attempt, as the delivery log keeps it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttempt {
    pub id: Uuid,
    pub message_id: Uuid,
    pub event_type: String,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status; none when nothing was answered.
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// The start of the receiver's answer (at most 512 bytes).
    pub response: String,
    pub duration_ms: i32,
}

/// The `webhook-id` of message `id`.
pub fn webhook_id(id: Uuid) -> String {
    format!("msg_{}", id.simple())
}
