//! The bodies a message is sent as, built when it is sent from the thin event and the names
//! and titles as they are then (an erased member is "Former member"; a recognition undone or
//! hidden meanwhile shows no message).
//!
//! - `standard`: `{"type", "timestamp", "data"}`, the shape the Standard Webhooks
//!   specification recommends; `data` has ids for a program and names for a person.
//! - `slack`: a Slack incoming webhook's `text` (and the same as a `section` block).
//! - `teams`: a Microsoft Teams workflow's message carrying one Adaptive Card.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Format, TEST_EVENT};

/// A member as a message names them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Named {
    pub id: Uuid,
    pub display_name: String,
}

/// A message, with what it names looked up.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub organisation_id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub subject_type: String,
    pub subject_id: Uuid,
    /// A win's, badge's, challenge's or reward's title, a level's name.
    pub subject_title: Option<String>,
    pub actor: Option<Named>,
    /// Whom the event is for (recipients, a win's author, a lead asked to approve...).
    pub members: Vec<Named>,
    /// The event's own numbers and statuses (`points`, `status`...).
    pub data: Value,
    /// A recognition's message, when the recognition is public and still stands.
    pub message: Option<String>,
}

/// The longest recognition message a chat body quotes.
const QUOTED_CHARS: usize = 300;

/// The body of `message` in `format`.
pub fn body(format: Format, message: &Outgoing) -> Vec<u8> {
    let value = match format {
        Format::Standard => standard(message),
        Format::Slack => slack(message),
        Format::Teams => teams(message),
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

fn standard(m: &Outgoing) -> Value {
    json!({
        "type": m.event_type,
        "timestamp": m.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "organisation_id": m.organisation_id,
            "subject": { "type": m.subject_type, "id": m.subject_id, "title": m.subject_title },
            "actor": m.actor,
            "members": m.members,
            "message": m.message,
            "details": m.data,
        }
    })
}

fn slack(m: &Outgoing) -> Value {
    let text = slack_escape(&sentence(m));
    let mut blocks = vec![json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })];
    if let Some(quote) = quoted(m) {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("> {}", slack_escape(&quote)) } }));
    }
    blocks.push(json!({ "type": "context", "elements": [
        { "type": "mrkdwn", "text": format!("Frontline · {}", slack_escape(&m.event_type)) }
    ] }));
    json!({ "text": text, "blocks": blocks })
}

fn teams(m: &Outgoing) -> Value {
    let mut body = vec![json!({ "type": "TextBlock", "text": sentence(m), "wrap": true })];
    if let Some(quote) = quoted(m) {
        body.push(json!({ "type": "TextBlock", "text": quote, "wrap": true, "isSubtle": true }));
    }
    body.push(
        json!({ "type": "TextBlock", "text": format!("Frontline · {}", m.event_type),
                      "size": "Small", "isSubtle": true, "wrap": true }),
    );
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            }
        }]
    })
}

fn quoted(m: &Outgoing) -> Option<String> {
    let text = m.message.as_deref()?.trim();
    if text.is_empty() {
        return None;
    }
    let mut quote: String = text.chars().take(QUOTED_CHARS).collect();
    if text.chars().count() > QUOTED_CHARS {
        quote.push('…');
    }
    Some(quote)
}

/// Slack reads `&`, `<` and `>` as markup: a name like `<!channel>` must not ping anyone.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// "Ana, Ben and Cy" (at most five named, then "and N others").
fn names(members: &[Named]) -> String {
    const SHOWN: usize = 5;
    let mut shown: Vec<&str> = members
        .iter()
        .take(SHOWN)
        .map(|m| m.display_name.as_str())
        .collect();
    let others = members.len().saturating_sub(SHOWN);
    let others_text = format!("{others} others");
    if others > 0 {
        shown.push(&others_text);
    }
    match shown.as_slice() {
        [] => "someone".into(),
        [one] => (*one).into(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// One line saying what happened, for a person.
pub fn sentence(m: &Outgoing) -> String {
    let actor = m.actor.as_ref().map(|a| a.display_name.as_str());
    let who = names(&m.members);
    let title = m.subject_title.as_deref().unwrap_or("(untitled)");
    let points = m.data.get("points").and_then(Value::as_i64);
    let plus = points
        .map(|p| format!(" (+{p} points)"))
        .unwrap_or_default();
    // A win's new status is `status`; a redemption's is `to`.
    let status = ["status", "to"]
        .iter()
        .find_map(|k| m.data.get(*k).and_then(Value::as_str))
        .unwrap_or("changed");
    let by = actor.map(|a| format!(" by {a}")).unwrap_or_default();
    match m.event_type.as_str() {
        "recognition.received" => {
            match (actor, m.data.get("celebration").and_then(Value::as_str)) {
                (_, Some("birthday")) => format!("Happy birthday, {who}!{plus}"),
                (_, Some(_)) => format!("Happy work anniversary, {who}!{plus}"),
                (Some(a), None) => format!("{a} recognised {who}{plus}"),
                (None, None) => format!("{who} received a recognition{plus}"),
            }
        }
        "recognition.boosted" => match actor {
            Some(a) => format!("{a} boosted a recognition{plus}"),
            None => format!("A recognition was boosted{plus}"),
        },
        "win.submitted" => format!(
            "{} submitted the win “{title}” for approval",
            actor.unwrap_or("Someone")
        ),
        "win.approved" => format!("The win “{title}” was approved{by}"),
        "win.declined" => format!("The win “{title}” was declined{by}"),
        "win.implemented" => format!("The win “{title}” was implemented{by}"),
        "win.measured" => format!("The win “{title}” has a measured outcome{by}"),
        "win.commented" => format!(
            "{} commented on the win “{title}”",
            actor.unwrap_or("Someone")
        ),
        "badge.earned" => format!("{who} earned the badge “{title}”{plus}"),
        "level.reached" => format!("{who} reached the level “{title}”"),
        "challenge.completed" => format!("{who} completed the challenge “{title}”{plus}"),
        "redemption.status_changed" => format!("{who}'s redemption of “{title}” is {status}"),
        TEST_EVENT => {
            "A test message from Frontline: this endpoint receives Frontline's events.".into()
        }
        other => format!("Frontline event {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Named {
        Named {
            id: Uuid::new_v4(),
            display_name: name.into(),
        }
    }

    fn recognised() -> Outgoing {
        Outgoing {
            organisation_id: Uuid::new_v4(),
            event_type: "recognition.received".into(),
            occurred_at: DateTime::<Utc>::MIN_UTC,
            subject_type: "recognition".into(),
            subject_id: Uuid::new_v4(),
            subject_title: None,
            actor: Some(named("Ana <!channel>")),
            members: vec![named("Ben"), named("Cy")],
            data: json!({ "points": 10 }),
            message: Some("Calmed a furious caller & kept them".into()),
        }
    }

    #[test]
    fn the_standard_body_carries_ids_names_and_details() {
        let m = recognised();
        let v: Value = serde_json::from_slice(&body(Format::Standard, &m)).unwrap_or_default();
        assert_eq!(v["type"], "recognition.received");
        assert_eq!(v["data"]["subject"]["id"], json!(m.subject_id));
        assert_eq!(v["data"]["members"][1]["display_name"], "Cy");
        assert_eq!(v["data"]["details"]["points"], 10);
        assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn chat_bodies_say_it_in_a_sentence_and_slack_markup_is_escaped() {
        let m = recognised();
        assert_eq!(
            sentence(&m),
            "Ana <!channel> recognised Ben and Cy (+10 points)"
        );
        let s: Value = serde_json::from_slice(&body(Format::Slack, &m)).unwrap_or_default();
        assert_eq!(
            s["text"],
            "Ana &lt;!channel&gt; recognised Ben and Cy (+10 points)"
        );
        assert_eq!(
            s["blocks"][1]["text"]["text"],
            "> Calmed a furious caller &amp; kept them"
        );
        let t: Value = serde_json::from_slice(&body(Format::Teams, &m)).unwrap_or_default();
        let card = &t["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(
            card["body"][0]["text"],
            "Ana <!channel> recognised Ben and Cy (+10 points)"
        );
    }

    #[test]
    fn a_redemption_says_its_new_status() {
        let mut m = recognised();
        m.event_type = "redemption.status_changed".into();
        m.subject_title = Some("Cinema tickets".into());
        m.members.truncate(1);
        m.data = json!({ "from": "pending", "to": "approved", "points": 200 });
        assert_eq!(
            sentence(&m),
            "Ben's redemption of “Cinema tickets” is approved"
        );
    }

    #[test]
    fn many_members_are_counted_not_listed() {
        let members: Vec<Named> = (0..8).map(|i| named(&format!("M{i}"))).collect();
        assert_eq!(names(&members), "M0, M1, M2, M3, M4 and 3 others");
        assert_eq!(names(&[]), "someone");
    }

    #[test]
    fn long_messages_are_cut_for_chat() {
        let mut m = recognised();
        m.message = Some("x".repeat(1000));
        assert_eq!(
            quoted(&m).map(|q| q.chars().count()),
            Some(QUOTED_CHARS + 1)
        );
    }
}
