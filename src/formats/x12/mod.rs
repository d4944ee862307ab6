//! X12: tokenizer, envelope parser and validator, and writer.

pub mod envelope;
pub mod lexer;
pub mod writer;

pub use envelope::{parse, Group, Interchange, Transaction, X12File};
pub use lexer::{Segment, Separators};
