//! Letting people in without the workspace secret, and keeping the
//! workspace's ownership recoverable (`spec/workspace.md`: join modes,
//! access keys, recovery keys).
//!
//! - [`code`]: the short access key a person reads out or types in.
//! - [`enroll`]: the exchange by which a device that holds only such a code
//!   (or nothing, in request mode) obtains the workspace secret from a
//!   member, without the relay in between learning the code or the secret.
//! - [`recovery`]: the owner's recovery key, of which the workspace keeps
//!   only a verifier.

pub mod code;
pub mod enroll;
pub mod recovery;

pub use code::{AccessCode, CodeError};
pub use enroll::{Ask, ENROLL_VERSION, EnrollError, JoinWith, Joiner, JoinerOutcome, Member, Method, refusal};
pub use recovery::RecoveryKey;
