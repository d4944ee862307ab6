//! edigate: an EDI and file-based batch integration appliance.
//!
//! See `docs/ARCHITECTURE.md` for the map of modules and the invariants they keep.

pub mod acks;
pub mod admin;
pub mod advise;
pub mod alerts;
pub mod body;
pub mod bundle;
pub mod canonical;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod formats;
pub mod fsutil;
pub mod init;
pub mod intake;
pub mod latency;
pub mod mapping;
pub mod migration;
pub mod nodes;
pub mod orchestrate;
pub mod outbound;
pub mod pipeline;
pub mod quarantine;
pub mod report;
pub mod retention;
pub mod routing;
pub mod sandbox;
pub mod scheduler;
pub mod sftp;
pub mod sim;
pub mod store;
pub mod targets;
pub mod tracking;
pub mod translate;
pub mod util;
