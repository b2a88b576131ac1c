//! The demo's recognitions.

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::people::{
    ADMIN, ANA, BEN, CHLOE, DEV, ELI, FRIDA, GUS, HR, LARS, People, SOFIA, person,
};
use super::wins::win;
use crate::error::{AppError, AppResult};
use crate::recognition::boosts::{self, NewBoost};
use crate::recognition::domain as recognition;
use crate::recognition::giving::GivingKind;
use crate::recognition::take_back;
use crate::recognition::visibility::Viewer;
use crate::values::routes::NewValue;
use crate::vocabulary::Dimension;

/// A demo recognition; `initiative` indexes `DEMO_WINS`.
struct Kudos {
    giver: &'static str,
    recipients: &'static [&'static str],
    message: &'static str,
    points: i32,
    dimension: Option<Dimension>,
    initiative: Option<usize>,
}

/// Team leads to their members (from their budgets), peers to peers (from their allowances,
/// within the daily cap), and the admin to several at once.
const DEMO_RECOGNITIONS: &[Kudos] = &[
    Kudos {
        giver: LARS,
        recipients: &[ANA],
        message: "You called before she had to chase us, then turned it into a habit for the whole team. CSAT on late deliveries went from 72 to 81. Thank you, Ana! #CustomerFirst",
        points: 50,
        dimension: Some(Dimension::Expectations),
        initiative: Some(0),
    },
    Kudos {
        giver: LARS,
        recipients: &[BEN],
        message: "One agent, one case, start to finish: customers notice, and so do I. Thanks for leading the way, Ben.",
        points: 30,
        dimension: Some(Dimension::Personalisation),
        initiative: Some(3),
    },
    Kudos {
        giver: LARS,
        recipients: &[CHLOE],
        message: "The return-label button saves our customers a wait and saves us a hundred chats a week. Brilliant, Chloe. #KeepItSimple",
        points: 25,
        dimension: Some(Dimension::TimeAndEffort),
        initiative: Some(4),
    },
    Kudos {
        giver: SOFIA,
        recipients: &[DEV],
        message: "The quiet hour is the kindest thing this store has done all year. Thank you for listening to that dad, Dev.",
        points: 40,
        dimension: Some(Dimension::Empathy),
        initiative: Some(1),
    },
    Kudos {
        giver: BEN,
        recipients: &[ANA],
        message: "Thanks for taking my upset caller on Friday and turning the call around. I owe you a coffee. #BetterTogether",
        points: 20,
        dimension: Some(Dimension::Empathy),
        initiative: None,
    },
    Kudos {
        giver: FRIDA,
        recipients: &[GUS],
        message: "First visits that actually happen: 91 % now. Customers open the door because they know who is coming. Great work, Gus.",
        points: 50,
        dimension: Some(Dimension::Trust),
        initiative: Some(2),
    },
    Kudos {
        giver: ELI,
        recipients: &[CHLOE],
        message: "I could not have done that phone setup without you on the line. Teamwork across the building! #BetterTogether #phonesetup",
        points: 15,
        dimension: Some(Dimension::ProblemSolving),
        initiative: Some(5),
    },
    Kudos {
        giver: SOFIA,
        recipients: &[ELI],
        message: "Patient and calm, and she left with every photo. That is how we want people to feel at our tills.",
        points: 20,
        dimension: Some(Dimension::ProblemSolving),
        initiative: Some(5),
    },
    Kudos {
        giver: DEV,
        recipients: &[GUS],
        message: "Your arrival-window idea answers the question customers ask me at the till every single day.",
        points: 25,
        dimension: Some(Dimension::Trust),
        initiative: Some(10),
    },
    Kudos {
        giver: GUS,
        recipients: &[DEV],
        message: "The quiet hour made my neighbour's week. Nice one.",
        points: 15,
        dimension: Some(Dimension::Empathy),
        initiative: None,
    },
    Kudos {
        giver: HR,
        recipients: &[LARS],
        message: "The way you coach the care team shows in every survey we run. Thank you, Lars. #OwnIt",
        points: 20,
        dimension: Some(Dimension::Empathy),
        initiative: None,
    },
    Kudos {
        giver: LARS,
        recipients: &[ANA, BEN, CHLOE],
        message: "A record week on the phones, and not one customer left hanging. Proud of this team.",
        points: 10,
        dimension: None,
        initiative: None,
    },
    Kudos {
        giver: ADMIN,
        recipients: &[ANA, DEV, GUS],
        message: "Three wins measured this month and three KPIs moved: this is what customer experience as a team sport looks like. Thank you!",
        points: 30,
        dimension: None,
        initiative: None,
    },
    Kudos {
        giver: ADMIN,
        recipients: &[LARS, SOFIA, FRIDA],
        message: "For making room for your teams' ideas, and for saying yes more often than no.",
        points: 20,
        dimension: None,
        initiative: None,
    },
];

/// The demo's company values: (name, hashtag, description).
const DEMO_VALUES: &[(&str, &str, &str)] = &[
    (
        "Customer first",
        "CustomerFirst",
        "We start from what the customer needs, and we follow through.",
    ),
    (
        "Own it",
        "OwnIt",
        "One person owns a case from start to finish.",
    ),
    (
        "Better together",
        "BetterTogether",
        "We help across teams and channels.",
    ),
    (
        "Keep it simple",
        "KeepItSimple",
        "Less effort for customers and for us.",
    ),
];

/// Gives the company values, then the recognitions, each in its own transaction; `wins` are
/// the demo wins' ids. The recognitions name values by hashtag in their messages.
pub(super) async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    people: &People,
    wins: &[Uuid],
) -> AppResult<()> {
    let admin = person(people, ADMIN)?.member_id;
    for (position, (name, hashtag, description)) in (0..).zip(DEMO_VALUES) {
        let new = NewValue {
            name: name.to_string(),
            hashtag: hashtag.to_string(),
            description: description.to_string(),
            position,
        };
        crate::values::routes::add(conn, org, admin, &new).await?;
    }
    let win = |i: usize| win(wins, i);
    let mut given = Vec::new();
    for k in DEMO_RECOGNITIONS {
        let giver = person(people, k.giver)?;
        let recipients = k
            .recipients
            .iter()
            .map(|r| person(people, r).map(|r| r.member_id))
            .collect::<AppResult<Vec<_>>>()?;
        let initiative = k.initiative.map(win).transpose()?;
        conn.transaction::<_, AppError, _>(async move |conn| {
            let new = recognition::CreateRecognition {
                recipients,
                message: k.message.to_string(),
                points: k.points,
                dimension: k.dimension,
                initiative_id: initiative,
                value_ids: Vec::new(),
                team_ids: Vec::new(),
                visibility: None,
            };
            recognition::give(
                conn,
                org,
                giver.member_id,
                GivingKind::for_role(giver.role),
                &new,
                Utc::now(),
            )
            .await
        })
        .await
        .map(|id| given.push(id))?;
    }
    boost_and_undo(conn, org, people, &given).await
}

/// A colleague boosts the first recognition; a peer gives one to the wrong person and undoes it.
async fn boost_and_undo(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    people: &People,
    given: &[Uuid],
) -> AppResult<()> {
    let booster = Viewer::from(&person(people, BEN)?);
    let first = *given
        .first()
        .ok_or_else(|| AppError::internal("no demo recognition"))?;
    conn.transaction::<_, AppError, _>(async move |conn| {
        let new = NewBoost { points: 5 };
        boosts::boost(
            conn,
            org,
            &booster,
            GivingKind::Peer,
            first,
            &new,
            Utc::now(),
        )
        .await
    })
    .await?;
    let chloe = person(people, CHLOE)?;
    let gus = person(people, GUS)?.member_id;
    conn.transaction::<_, AppError, _>(async move |conn| {
        let new = recognition::CreateRecognition {
            recipients: vec![gus],
            message: "Thanks for covering my Saturday shift!".into(),
            points: 5,
            dimension: None,
            initiative_id: None,
            value_ids: Vec::new(),
            team_ids: Vec::new(),
            visibility: None,
        };
        let kind = GivingKind::for_role(chloe.role);
        let id = recognition::give(conn, org, chloe.member_id, kind, &new, Utc::now()).await?;
        // It was Gus's namesake in another store: Chloe takes it back.
        take_back::undo(conn, org, &Viewer::from(&chloe), id, 24, Utc::now())
            .await
            .map(|_| ())
    })
    .await
}
