//! Preflight's compiled screening core. The modules follow the screening pipeline:
//! `normalize` → `keys` → `candidates` (postings, geo, identifiers, areas) → `scoring` →
//! `verdict` (explanations, the response); beside them `snapshot`, `view` (the delta) and
//! `suppression` (an agency's recorded false matches), the request model (`proto`, `model`,
//! `document`), and `py`, the only module that knows Python.
//! No I/O, no clock, no environment: the caller passes in everything (today's date too).

pub mod candidates;
pub mod document;
pub mod geo;
pub mod keys;
pub mod model;
pub mod normalize;
pub mod policy;
pub mod proto;
pub mod reasons;
pub mod rounding;
pub mod scoring;
pub mod similarity;
pub mod snapshot;
pub mod summary;
pub mod suppression;
pub mod verdict;
pub mod view;

#[cfg(feature = "python")]
mod py;
