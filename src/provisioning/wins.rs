//! The demo's wins: a dozen initiatives through their lifecycles, and comments on them.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::people::{ADMIN, ANA, BEN, CHLOE, DEV, ELI, FRIDA, GUS, LARS, People, SOFIA, person};
use crate::error::{AppError, AppResult};
use crate::initiatives::lifecycle::{self, Measurement, NewInitiative, Transition};
use crate::schema::initiative_comments;
use crate::vocabulary::{Channel, Dimension, JourneyStage};

/// One step of a demo initiative's lifecycle, by whom.
enum Step {
    Approve(&'static str, Option<&'static str>),
    Decline(&'static str, &'static str),
    Implement(&'static str, Option<&'static str>),
    Measure {
        by: &'static str,
        kpi: &'static str,
        unit: &'static str,
        baseline: f64,
        result: f64,
        note: Option<&'static str>,
    },
}

impl Step {
    fn by(&self) -> &'static str {
        match self {
            Step::Approve(by, _)
            | Step::Decline(by, _)
            | Step::Implement(by, _)
            | Step::Measure { by, .. } => by,
        }
    }

    fn transition(&self) -> Transition {
        let note = |n: &Option<&str>| n.map(str::to_string);
        match self {
            Step::Approve(_, n) => Transition::Approve { note: note(n) },
            Step::Decline(_, reason) => Transition::Decline {
                reason: reason.to_string(),
            },
            Step::Implement(_, n) => Transition::Implement { note: note(n) },
            Step::Measure {
                kpi,
                unit,
                baseline,
                result,
                note: n,
                ..
            } => Transition::Measure {
                outcome: Measurement {
                    kpi: kpi.to_string(),
                    unit: unit.to_string(),
                    baseline: *baseline,
                    result: *result,
                    measured_at: Utc::now(),
                },
                note: note(n),
            },
        }
    }
}

/// A demo initiative ("win") and how far through its lifecycle it gets.
struct Win {
    author: &'static str,
    title: &'static str,
    description: &'static str,
    dimension: Dimension,
    channel: Channel,
    stage: JourneyStage,
    /// Value for the customer, for the organisation, ease.
    ratings: (i16, i16, i16),
    reference: Option<&'static str>,
    contributors: &'static [&'static str],
    steps: &'static [Step],
}

/// A dozen wins across the six dimensions, the eight channels and the three journey stages,
/// in every status. Indexes into this list are used by the comments and recognitions below.
const DEMO_WINS: &[Win] = &[
    // 0: measured
    Win {
        author: ANA,
        title: "Called back a customer whose delivery was late before they had to chase us",
        description: "A customer's sofa was stuck at the carrier's hub for two days. I saw it on \
            the late-parcel report, called her before she called us, gave her a new delivery \
            window and booked the evening slot. She said it was the first time a shop had rung \
            her with bad news before she had to ask. Gus in Field Service showed me where the \
            carrier's delay feed is. Proposal: a morning list of every parcel more than a day \
            late, and we call those customers first.",
        dimension: Dimension::Expectations,
        channel: Channel::Phone,
        stage: JourneyStage::After,
        ratings: (5, 4, 4),
        reference: Some("Order 100-48213"),
        contributors: &[GUS],
        steps: &[
            Step::Approve(
                LARS,
                Some(
                    "Great catch. Try it for every late parcel for a month and let's see what it does.",
                ),
            ),
            Step::Implement(
                LARS,
                Some(
                    "A morning list of parcels more than a day late, shared in the care channel; we call before 10:00.",
                ),
            ),
            Step::Measure {
                by: LARS,
                kpi: "CSAT",
                unit: "%",
                baseline: 72.0,
                result: 81.0,
                note: Some(
                    "CSAT on late-delivery contacts, four weeks before against four weeks after.",
                ),
            },
        ],
    },
    // 1: measured
    Win {
        author: DEV,
        title: "A quiet hour on Tuesday mornings for customers who find a busy store overwhelming",
        description: "A father told me his son, who is autistic, could never come shopping with \
            him because of the music and the flashing screens. From 09:00 to 10:00 on Tuesdays \
            we turn the music off, dim the demo screens and keep every till open. Regulars now \
            plan their visit around it.",
        dimension: Dimension::Empathy,
        channel: Channel::InPerson,
        stage: JourneyStage::During,
        ratings: (4, 3, 5),
        reference: None,
        contributors: &[],
        steps: &[
            Step::Approve(
                SOFIA,
                Some("A lovely idea, and it costs us nothing. Go ahead."),
            ),
            Step::Implement(
                SOFIA,
                Some(
                    "Every Tuesday 09:00-10:00 since the start of the month, with a sign on the door.",
                ),
            ),
            Step::Measure {
                by: SOFIA,
                kpi: "NPS (Tuesday morning visitors)",
                unit: "points",
                baseline: 31.0,
                result: 44.0,
                note: Some("In-store survey, six weeks before against six weeks after."),
            },
        ],
    },
    // 2: measured
    Win {
        author: GUS,
        title: "Sent customers the technician's name and photo the evening before an installation",
        description: "Customers did not open the door to a stranger, or were not at home, and we \
            had to book a second visit. Now the app sends the technician's name, photo and a \
            two-hour arrival window the evening before.",
        dimension: Dimension::Trust,
        channel: Channel::App,
        stage: JourneyStage::Before,
        ratings: (4, 5, 3),
        reference: None,
        contributors: &[],
        steps: &[
            Step::Approve(FRIDA, None),
            Step::Implement(
                FRIDA,
                Some("Live for every installation booked through the app."),
            ),
            Step::Measure {
                by: FRIDA,
                kpi: "First-visit completion rate",
                unit: "%",
                baseline: 82.0,
                result: 91.0,
                note: None,
            },
        ],
    },
    // 3: implemented
    Win {
        author: BEN,
        title: "Kept one named agent on each warranty case from start to finish",
        description: "Customers with a broken appliance told their story three times to three \
            agents. I now keep my warranty cases to the end and give the customer my direct \
            email. Eli at the store counter hands returned items straight to me, so nothing \
            gets lost between the shop and Customer Care.",
        dimension: Dimension::Personalisation,
        channel: Channel::Email,
        stage: JourneyStage::After,
        ratings: (5, 3, 3),
        reference: Some("Case 7731"),
        contributors: &[ELI],
        steps: &[
            Step::Approve(
                LARS,
                Some("Yes. Let's try it for every warranty case in the team."),
            ),
            Step::Implement(
                LARS,
                Some("Warranty cases now have one owner; the shared inbox only routes them."),
            ),
        ],
    },
    // 4: implemented
    Win {
        author: CHLOE,
        title: "Added a \"send me a return label\" button to the chat",
        description: "Half of our chats were customers asking for a return label and then \
            waiting for an agent to email it. The chat now offers a button that emails the \
            label at once, and an agent is still there if anything else is needed.",
        dimension: Dimension::TimeAndEffort,
        channel: Channel::Chat,
        stage: JourneyStage::After,
        ratings: (4, 4, 4),
        reference: None,
        contributors: &[],
        steps: &[
            Step::Approve(LARS, None),
            Step::Implement(LARS, Some("Live in the web chat since Monday.")),
        ],
    },
    // 5: approved
    Win {
        author: ELI,
        title: "Set up a customer's new phone at the till while she waited",
        description: "An older customer was worried about moving her photos and contacts to her \
            new phone. Chloe in Customer Care stayed on the line with me to restore her backup, \
            and she left with everything working. We could offer this to everyone who buys a \
            phone on a weekday.",
        dimension: Dimension::ProblemSolving,
        channel: Channel::InPerson,
        stage: JourneyStage::During,
        ratings: (5, 3, 2),
        reference: None,
        contributors: &[CHLOE],
        steps: &[Step::Approve(
            SOFIA,
            Some("Let's make it a standing offer on weekdays; book 20 minutes per setup."),
        )],
    },
    // 6: approved (a team lead's own win: the admin approves it)
    Win {
        author: FRIDA,
        title: "Let technicians replace a faulty part on the spot, up to 1 500 kr, without calling the office",
        description: "Today a technician who finds a broken hinge or a worn seal must call the \
            office for approval and often come back another day. A small mandate to fix it \
            there and then saves the customer a second visit and us a second trip.",
        dimension: Dimension::ProblemSolving,
        channel: Channel::InPerson,
        stage: JourneyStage::During,
        ratings: (5, 4, 3),
        reference: None,
        contributors: &[],
        steps: &[Step::Approve(
            ADMIN,
            Some("Approved for a three-month trial. Log each use so that we can see the cost."),
        )],
    },
    // 7: declined
    Win {
        author: BEN,
        title: "Give a 10 % voucher to every caller who waited more than five minutes",
        description: "Long queues make customers angry before we have even said hello. A \
            voucher would soften the wait.",
        dimension: Dimension::TimeAndEffort,
        channel: Channel::Phone,
        stage: JourneyStage::During,
        ratings: (2, 1, 4),
        reference: None,
        contributors: &[],
        steps: &[Step::Decline(
            LARS,
            "A voucher treats the symptom, not the wait. Could you look at offering a call-back slot in the queue instead? I would approve that straight away.",
        )],
    },
    // 8: declined
    Win {
        author: DEV,
        title: "Post the day's shelf prices on Instagram every morning",
        description: "Customers ask in the store whether the price online is the same. Posting \
            the prices would set expectations before they come.",
        dimension: Dimension::Expectations,
        channel: Channel::Social,
        stage: JourneyStage::Before,
        ratings: (2, 2, 2),
        reference: None,
        contributors: &[],
        steps: &[Step::Decline(
            SOFIA,
            "Prices change during the day, and a wrong price online would cost us more trust than it wins. The web shop already shows live store prices: let's point people there.",
        )],
    },
    // 9: submitted
    Win {
        author: ANA,
        title: "Send a short personal follow-up a week after a complaint is closed",
        description: "Closing a complaint is not the same as the customer feeling heard. A \
            two-line email from the agent who handled it, a week later, asking whether \
            everything is still all right.",
        dimension: Dimension::Empathy,
        channel: Channel::Email,
        stage: JourneyStage::After,
        ratings: (4, 3, 5),
        reference: None,
        contributors: &[CHLOE],
        steps: &[],
    },
    // 10: submitted
    Win {
        author: GUS,
        title: "Show the technician's live arrival window on the order page",
        description: "Customers call us to ask when the technician will come. The dispatch \
            system knows; the order page could show it. Dev says it is the question he hears \
            most at the till.",
        dimension: Dimension::Trust,
        channel: Channel::Web,
        stage: JourneyStage::Before,
        ratings: (4, 4, 2),
        reference: None,
        contributors: &[DEV],
        steps: &[],
    },
    // 11: submitted
    Win {
        author: CHLOE,
        title: "Answer customers who write to us by letter with a letter",
        description: "Some of our older customers still send letters. We answer by email, \
            which some of them never read. A short signed letter back shows that we listened.",
        dimension: Dimension::Personalisation,
        channel: Channel::Mail,
        stage: JourneyStage::After,
        ratings: (3, 2, 4),
        reference: Some("Letter of 3 March"),
        contributors: &[],
        steps: &[],
    },
];

/// (win index, author, body)
const DEMO_COMMENTS: &[(usize, &str, &str)] = &[
    (
        0,
        CHLOE,
        "We tried the late-parcel list on the evening shift too: customers were surprised, in a good way.",
    ),
    (
        9,
        LARS,
        "Love this. Could you draft the two lines so that the whole team can use them?",
    ),
    (
        9,
        ANA,
        "The draft is in the team folder. Chloe and I tried it on five cases this week, and every customer replied.",
    ),
    (
        10,
        FRIDA,
        "Dispatch already has the window; I have asked IT whether the order page can read it.",
    ),
    (
        6,
        GUS,
        "This would have saved me two trips last week alone.",
    ),
];

/// Submits the wins and takes each through its steps, each action in its own transaction;
/// then the comments. The wins' ids, in `DEMO_WINS` order.
pub(super) async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    people: &People,
) -> AppResult<Vec<Uuid>> {
    let mut wins = Vec::with_capacity(DEMO_WINS.len());
    for w in DEMO_WINS {
        let author = person(people, w.author)?;
        let contributors = w
            .contributors
            .iter()
            .map(|c| person(people, c).map(|c| c.member_id))
            .collect::<AppResult<Vec<_>>>()?;
        let (customer_value, organisation_value, ease) = w.ratings;
        let new = NewInitiative {
            title: w.title.to_string(),
            description: w.description.to_string(),
            dimension: w.dimension,
            channel: w.channel,
            journey_stage: w.stage,
            customer_value,
            organisation_value,
            ease,
            customer_reference: w.reference.map(str::to_string),
            contributors,
        };
        let id = conn
            .transaction::<_, AppError, _>(async move |conn| {
                Ok(lifecycle::submit(conn, &author, new).await?.id)
            })
            .await?;
        for step in w.steps {
            let by = person(people, step.by())?;
            let t = step.transition();
            conn.transaction::<_, AppError, _>(async move |conn| {
                lifecycle::transition(conn, &by, id, t).await.map(|_| ())
            })
            .await?;
        }
        wins.push(id);
    }
    let win = |i: usize| win(&wins, i);

    // Comments have no points and no domain function beyond the insert their route makes.
    for (i, author, body) in DEMO_COMMENTS {
        diesel::insert_into(initiative_comments::table)
            .values((
                initiative_comments::organisation_id.eq(org),
                initiative_comments::initiative_id.eq(win(*i)?),
                initiative_comments::author_id.eq(person(people, author)?.member_id),
                initiative_comments::body.eq(*body),
            ))
            .execute(conn)
            .await?;
    }
    Ok(wins)
}

/// The id of `DEMO_WINS[i]`.
pub(super) fn win(wins: &[Uuid], i: usize) -> AppResult<Uuid> {
    wins.get(i)
        .copied()
        .ok_or_else(|| AppError::internal(format!("demo win {i} missing")))
}
