//! EDIFACT: tokenizer, streaming envelope parser, structure validation and CONTRL.

pub mod contrl;
pub mod envelope;
pub mod lexer;
pub mod pipe;
pub mod validate;

pub use envelope::{parse, EdifactFile, Interchange, Message};
pub use lexer::{Delims, Segment};
