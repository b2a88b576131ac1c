//! Engagement analytics: participation, recognition reach, the initiatives funnel, points by dimension and channel, and KPI change beside engagement.
//!
//! Everything is aggregated in PostgreSQL, grouped by team, one query per family of metrics
//! (members, participation, recognition reach, the funnel, points by dimension, points by
//! channel, KPI change), each computing the organisation's total in the same pass with
//! `GROUPING SETS`. The cost grows with the activity in the range, not with the number of teams
//! times queries. The correlation across teams is computed here from the per-team figures.
//! `docs/analytics.md` explains the definitions and the method.
//!
//! - `routes`: the endpoint and its parameters.
//! - `report`: the report's shape, put together from the aggregates.
//! - `queries`: the aggregates.
//! - `stats`: Pearson's r.

pub mod queries;
pub mod report;
pub mod routes;
pub mod stats;

crate::http::operations!(
    /// The engagement report.
    AnalyticsApi { routes::engagement_report }
);
