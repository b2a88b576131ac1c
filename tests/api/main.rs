//! Integration tests: one binary (one link) with a module per area of the API.

#![allow(dead_code)]

mod common;

mod analytics;
mod auth;
mod board_rebuild;
mod celebrations;
mod challenges;
mod cli;
mod clock;
mod contract;
mod email;
mod exports;
mod faults;
mod freshness;
mod gamification;
mod initiatives;
mod kpis;
mod leaderboards;
mod ledger;
mod members;
mod metrics;
mod notification_events;
mod notification_stream;
mod notifications;
mod open_badges;
mod organisation;
mod outage;
mod peers;
mod platform;
mod privacy;
mod processes;
mod rates;
mod recognition;
mod recognition_culture;
mod rewards;
mod rings;
mod scim;
mod servers;
mod sign_in;
mod sso;
mod teams;
mod trust_challenges;
mod trust_input;
mod trust_login;
mod trust_privacy;
mod trust_sessions;
mod trust_undo;
mod trust_wins;
mod values;
mod webhooks;
