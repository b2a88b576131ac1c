//! Creating organisations from the command line: `bootstrap` for a real deployment, `demo`
//! for a tour of the product.
//!
//! - `bootstrap`: an organisation and its first admin.
//! - `demo`: the demo organisation, all or nothing; what it holds: `people` (teams, members,
//!   a lead's budget), `wins` (initiatives through their lifecycles, comments),
//!   `recognitions` and `rewards` (a catalogue and a redemption in each status).

mod bootstrap;
mod demo;
mod people;
mod recognitions;
mod rewards;
mod wins;

pub use bootstrap::{Bootstrap, bootstrap};
pub use demo::{DemoLogins, demo, demo_allowed};
pub use people::{DEMO_PASSWORD, DEMO_SLUG};
