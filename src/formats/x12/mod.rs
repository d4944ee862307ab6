//! X12: tokenizer, streaming envelope parser and validator, and writer.

pub mod envelope;
pub mod fields;
pub mod lexer;
pub mod pipe;
pub mod spec;
pub mod stream;
pub mod validate;
pub mod writer;

pub use envelope::{parse, Group, Interchange, Transaction, X12File};
pub use lexer::{Segment, Separators};
