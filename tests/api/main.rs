//! Integration tests: one binary (one link) with a module per area of the API.

#![allow(dead_code)]

mod common;

mod auth;
mod cli;
mod gamification;
mod initiatives;
mod leaderboards;
mod ledger;
mod members;
mod organisation;
mod platform;
mod privacy;
mod recognition;
mod teams;
