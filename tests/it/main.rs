//! The one integration-test binary: golden translations and the real service driven with files.

mod browser;
mod bundles;
mod connectors;
mod console;
mod corpus;
mod deliveries;
mod golden;
mod hardening;
mod mappings;
mod migration;
mod nodes;
mod on_postgres;
mod orchestration;
mod pg;
mod roundtrip;
mod schemas;
mod service;
mod sftp;
mod sshd;
mod streaming;
mod support;
mod twin;
