//! The demo's rewards: a small catalogue (one item taken out of it) and a redemption in each
//! status a member meets: requested, approved, declined, fulfilled, cancelled.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::people::{ADMIN, ANA, CHLOE, DEV, ELI, GUS, People, person};
use crate::error::{AppError, AppResult};
use crate::rewards::catalogue::{self, CreateRewardItem};
use crate::rewards::redeeming::{self, Step};

/// (title, description, cost, stock, requires approval, active)
type Item = (&'static str, &'static str, i64, Option<i64>, bool, bool);

const DEMO_ITEMS: &[Item] = &[
    (
        "Frontline hoodie",
        "Soft, warm and with the CX dimensions on the back. Sizes XS-XXL.",
        30,
        Some(20),
        false,
        true,
    ),
    (
        "Cinema tickets for two",
        "Two tickets for any film at the city cinema, popcorn included.",
        60,
        None,
        false,
        true,
    ),
    (
        "Lunch with the leadership team",
        "Bring the idea you would change first; the leadership team brings lunch.",
        50,
        Some(6),
        true,
        true,
    ),
    (
        "An extra afternoon off",
        "Half a day of your choosing, agreed with your team lead.",
        100,
        Some(3),
        true,
        true,
    ),
    (
        "A donation to the Red Cross",
        "We give 100 NOK in your name.",
        25,
        None,
        false,
        true,
    ),
    (
        "Summer party raffle ticket",
        "The raffle is drawn; back next summer.",
        10,
        Some(0),
        false,
        false,
    ),
];

const DECLINED_BECAUSE: &str =
    "Our spring peak starts next week; ask again in May and the afternoon is yours.";

/// Creates the catalogue, then the redemptions: Ana's hoodie fulfilled, Gus's cinema tickets
/// approved (on request), Dev's lunch requested, Chloe's afternoon off declined, Eli's lunch
/// request withdrawn by Eli (cancelled, refunded).
pub(super) async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    people: &People,
) -> AppResult<()> {
    let admin = person(people, ADMIN)?;
    let mut items = Vec::new();
    for (title, description, cost, stock, approval, active) in DEMO_ITEMS {
        let fields = CreateRewardItem {
            title: Some(title.to_string()),
            description: Some(description.to_string()),
            image_url: Some(format!(
                "https://rewards.demo.example/{}.png",
                items.len() + 1
            )),
            point_cost: Some(*cost),
            stock: *stock,
            requires_approval: Some(*approval),
            active: Some(*active),
        }
        .parse()?;
        items.push(
            catalogue::create(conn, org, admin.member_id, fields)
                .await?
                .id,
        );
    }
    let item = |i: usize| {
        items
            .get(i)
            .copied()
            .ok_or_else(|| AppError::internal("demo reward item missing"))
    };
    let hoodie = redeem(conn, org, person(people, ANA)?.member_id, item(0)?).await?;
    redeemed(conn, &admin, hoodie, Step::Fulfil).await?;
    redeem(conn, org, person(people, GUS)?.member_id, item(1)?).await?;
    redeem(conn, org, person(people, DEV)?.member_id, item(2)?).await?;
    let afternoon = redeem(conn, org, person(people, CHLOE)?.member_id, item(3)?).await?;
    redeemed(
        conn,
        &admin,
        afternoon,
        Step::Decline(DECLINED_BECAUSE.into()),
    )
    .await?;
    let eli = person(people, ELI)?;
    let lunch = redeem(conn, org, eli.member_id, item(2)?).await?;
    redeemed(conn, &eli, lunch, Step::Cancel).await
}

/// A redemption in its own transaction, as a request's would be.
async fn redeem(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    item: Uuid,
) -> AppResult<Uuid> {
    conn.transaction::<_, AppError, _>(async move |conn| {
        Ok(redeeming::redeem(conn, org, member, item).await?.id)
    })
    .await
}

async fn redeemed(
    conn: &mut AsyncPgConnection,
    by: &crate::auth::Caller,
    id: Uuid,
    step: Step,
) -> AppResult<()> {
    redeeming::act(conn, by, id, step).await.map(|_| ())
}
