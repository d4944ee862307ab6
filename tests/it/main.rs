//! The one integration-test binary: golden translations and the real service driven with files.

mod corpus;
mod golden;
mod service;
mod support;
