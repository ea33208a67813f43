//! Behaviour of the workspace engine as a driver sees it: every local edit
//! and every reason one is refused, undo and redo, taking in bundles from
//! peers and from storage, and the spec's scenario walkthroughs.
//!
//! Fixture and helpers: [`support`].

// Not every test file uses every helper.
#[allow(dead_code)]
mod support;

mod edges;
mod mappings;
mod merge_split;
mod modules;
mod receive;
mod records;
mod scenarios;
mod tables;
mod undo;
