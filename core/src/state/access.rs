//! Who may let whom in: the owner, the join mode, access keys and their
//! uses, the recovery key's verifier, and the workspace's forks.
//!
//! Like everything in the state, these are sets of operation effects read
//! in canonical order. Every operation is recorded, whoever wrote it; the
//! reads only count the owner's where the spec reserves a setting to the
//! owner, so a peer with a forged "settings" operation changes nothing.

use std::collections::BTreeMap;

use super::{Stamp, State};
use crate::hlc::Hlc;
use crate::identity::ActorId;
use crate::ids::{OpId, WorkspaceId};
use crate::op::{JoinMode, OpPayload};

/// The access operations of a workspace, in canonical order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct AccessLog {
    pub(super) events: BTreeMap<(Hlc, OpId), (Stamp, OpPayload)>,
}

impl AccessLog {
    pub(super) fn record(&mut self, stamp: Stamp, payload: &OpPayload) {
        self.events.insert((stamp.hlc, stamp.op), (stamp, payload.clone()));
    }
}

/// An access key as the workspace knows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The id of the operation that made it.
    pub id: OpId,
    /// The canonical form (see [`crate::access::AccessCode`]).
    pub code: String,
    pub expires: Hlc,
    pub max_uses: Option<u32>,
    /// People it let in (each counted once).
    pub uses: u32,
    pub revoked: bool,
    pub created: Stamp,
}

/// Why a key lets nobody in any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Revoked,
    Expired,
    UsedUp,
}

impl std::fmt::Display for KeyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyRefusal::Revoked => "this access key was revoked",
            KeyRefusal::Expired => "this access key has expired",
            KeyRefusal::UsedUp => "this access key has been used as many times as allowed",
        })
    }
}

impl AccessKey {
    /// Whether the key still lets someone in at `now` (compared as clocks,
    /// as the spec asks, so a device's wall clock alone cannot stretch it).
    pub fn check(&self, now: Hlc) -> Result<(), KeyRefusal> {
        if self.revoked {
            Err(KeyRefusal::Revoked)
        } else if now >= self.expires {
            Err(KeyRefusal::Expired)
        } else if self.max_uses.is_some_and(|max| self.uses >= max) {
            Err(KeyRefusal::UsedUp)
        } else {
            Ok(())
        }
    }
}

/// A copy made of this workspace, or the one it was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForkRecord {
    pub workspace: WorkspaceId,
    pub by: ActorId,
    pub at: Hlc,
}

impl State {
    /// The actor who created the workspace; it alone changes how people join.
    pub fn owner(&self) -> Option<ActorId> {
        self.workspace_name.as_ref().map(|(stamp, _)| stamp.actor)
    }

    pub fn is_owner(&self, actor: &ActorId) -> bool {
        self.owner().as_ref() == Some(actor)
    }

    fn owners_events(&self) -> impl DoubleEndedIterator<Item = &OpPayload> {
        let owner = self.owner();
        self.access.events.values().filter(move |(stamp, _)| Some(stamp.actor) == owner).map(|(_, payload)| payload)
    }

    pub fn join_mode(&self) -> JoinMode {
        self.owners_events()
            .rev()
            .find_map(|payload| match payload {
                OpPayload::SetJoinMode { mode } => Some(*mode),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Every key the owner made, oldest first, with its uses and whether it
    /// was revoked.
    pub fn access_keys(&self) -> Vec<AccessKey> {
        let mut keys: Vec<AccessKey> = self
            .access
            .events
            .values()
            .filter(|(stamp, _)| self.is_owner(&stamp.actor))
            .filter_map(|(stamp, payload)| match payload {
                OpPayload::CreateAccessKey { code, expires, max_uses } => Some(AccessKey {
                    id: stamp.op,
                    code: code.clone(),
                    expires: *expires,
                    max_uses: *max_uses,
                    uses: 0,
                    revoked: false,
                    created: *stamp,
                }),
                _ => None,
            })
            .collect();
        for payload in self.owners_events() {
            if let OpPayload::RevokeAccessKey { key } = payload
                && let Some(held) = keys.iter_mut().find(|held| held.id == *key)
            {
                held.revoked = true;
            }
        }
        // Any member may let someone in with a key; a person admitted twice
        // (say, by two members at once) used it once.
        let mut users: BTreeMap<OpId, Vec<ActorId>> = BTreeMap::new();
        for (_, payload) in self.access.events.values() {
            if let OpPayload::UseAccessKey { key, actor } = payload {
                let seen = users.entry(*key).or_default();
                if !seen.contains(actor) {
                    seen.push(*actor);
                }
            }
        }
        for key in &mut keys {
            key.uses = users.get(&key.id).map_or(0, |actors| actors.len() as u32);
        }
        keys
    }

    /// The owner's latest recovery key verifier.
    pub fn recovery_verifier(&self) -> Option<[u8; 32]> {
        self.owners_events().rev().find_map(|payload| match payload {
            OpPayload::SetRecoveryKey { verifier } => Some(*verifier),
            _ => None,
        })
    }

    /// The copies made of this workspace, oldest first.
    pub fn forks(&self) -> Vec<ForkRecord> {
        self.access
            .events
            .values()
            .filter_map(|(stamp, payload)| match payload {
                OpPayload::Forked { new_workspace } => {
                    Some(ForkRecord { workspace: *new_workspace, by: stamp.actor, at: stamp.hlc })
                }
                _ => None,
            })
            .collect()
    }

    /// The workspace this one was copied from, if it was.
    pub fn forked_from(&self) -> Option<ForkRecord> {
        self.owners_events().find_map(|payload| match payload {
            OpPayload::ForkedFrom { source, source_hlc } => {
                Some(ForkRecord { workspace: *source, by: self.owner()?, at: *source_hlc })
            }
            _ => None,
        })
    }
}
