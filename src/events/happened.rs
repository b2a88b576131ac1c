//! What happened, as every sink of [`super::emit`] receives it: the event's kind, who did it,
//! what it is about, who hears of it and its thin data.

use serde_json::Value;
use uuid::Uuid;

use crate::vocabulary::vocabulary;

vocabulary!(
    /// The kinds of domain event (the inbox's `kind`, a webhook's `type`).
    Kind {
        /// A recognition named you (or a celebration of yours).
        RecognitionReceived = "recognition.received",
        /// A colleague boosted a recognition you received or gave.
        RecognitionBoosted = "recognition.boosted",
        /// A win waits for your approval (team leads; admins when the team has none).
        WinSubmitted = "win.submitted",
        WinApproved = "win.approved",
        WinDeclined = "win.declined",
        WinImplemented = "win.implemented",
        WinMeasured = "win.measured",
        /// Someone commented on a win of yours.
        WinCommented = "win.commented",
        BadgeEarned = "badge.earned",
        LevelReached = "level.reached",
        ChallengeCompleted = "challenge.completed",
        /// A redemption of yours was approved, declined or fulfilled.
        RedemptionChanged = "redemption.status_changed",
    } field = "kind"
);

vocabulary!(
    /// What an event is about.
    SubjectType {
        Recognition = "recognition",
        Initiative = "initiative",
        Badge = "badge",
        Level = "level",
        Challenge = "challenge",
        Redemption = "redemption",
    } field = "subject_type"
);

/// One event, written in the transaction of the change it tells of.
#[derive(Debug, Clone)]
pub struct Happened {
    pub kind: Kind,
    /// Who did it (none for the system's own doings: a badge, a level).
    pub actor: Option<Uuid>,
    pub subject: (SubjectType, Uuid),
    /// Who hears of it in their inbox. The actor never does ([`Happened::listeners`]).
    pub audience: Vec<Uuid>,
    /// Thin JSON: ids, numbers, statuses. Never names, titles or message text: the inbox
    /// joins those when it is read, so an erased or renamed member shows as they are now.
    pub data: Value,
}

impl Happened {
    pub fn new(kind: Kind, subject: SubjectType, id: Uuid) -> Happened {
        Happened {
            kind,
            actor: None,
            subject: (subject, id),
            audience: Vec::new(),
            data: Value::Object(Default::default()),
        }
    }

    pub fn by(mut self, actor: Uuid) -> Happened {
        self.actor = Some(actor);
        self
    }

    pub fn to(mut self, audience: impl IntoIterator<Item = Uuid>) -> Happened {
        self.audience.extend(audience);
        self
    }

    pub fn data(mut self, data: Value) -> Happened {
        self.data = data;
        self
    }

    /// The audience without the actor, each member once, in the order first named.
    pub fn listeners(&self) -> Vec<Uuid> {
        let mut seen = std::collections::HashSet::new();
        self.audience
            .iter()
            .copied()
            .filter(|m| Some(*m) != self.actor && seen.insert(*m))
            .collect()
    }
}

/// An SQL expression naming what an event row `e` is about as it is now (a win's, badge's,
/// challenge's or reward's title, a level's name; null for a recognition or what is gone),
/// given the row's columns `organisation_id`, `subject_type`, `subject_id` and `data`. The
/// inbox and the webhooks name subjects alike, from this one text.
pub fn subject_title(e: &str) -> String {
    format!(
        "CASE {e}.subject_type
           WHEN 'initiative' THEN (SELECT i.title FROM initiatives i
               WHERE i.organisation_id = {e}.organisation_id AND i.id = {e}.subject_id)
           WHEN 'badge' THEN (SELECT b.name FROM badges b
               WHERE b.organisation_id = {e}.organisation_id AND b.id = {e}.subject_id)
           WHEN 'challenge' THEN (SELECT c.title FROM challenges c
               WHERE c.organisation_id = {e}.organisation_id AND c.id = {e}.subject_id)
           WHEN 'redemption' THEN (SELECT ri.title FROM redemptions r
               JOIN reward_items ri ON ri.organisation_id = r.organisation_id AND ri.id = r.item_id
               WHERE r.organisation_id = {e}.organisation_id AND r.id = {e}.subject_id)
           WHEN 'level' THEN {e}.data->>'level_name'
       END"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_never_hears_of_their_own_doing_and_nobody_twice() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let e = Happened::new(Kind::RecognitionBoosted, SubjectType::Recognition, a)
            .by(a)
            .to([b, a, c, b]);
        assert_eq!(e.listeners(), vec![b, c]);
    }

    #[test]
    fn kinds_read_as_they_are_written() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
