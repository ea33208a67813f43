//! Actors numbered in the order they are met, each id held once: a state's
//! touches name their actor by number rather than by its 32-byte id (a
//! third of every touch in a large workspace's memory).

use rustc_hash::FxHashMap;

use super::{Stamp, Touch};
use crate::identity::ActorId;

/// An actor of [`Actors`], by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct ActorNumber(u32);

#[derive(Debug, Clone, Default)]
pub(super) struct Actors {
    ids: Vec<ActorId>,
    numbers: FxHashMap<ActorId, ActorNumber>,
    /// The actor numbered last: operations come in runs of one author's,
    /// and comparing an id is cheaper than hashing it.
    last: Option<ActorNumber>,
}

impl Actors {
    /// `actor`'s number, given it now if it has none yet.
    pub(super) fn number(&mut self, actor: ActorId) -> ActorNumber {
        if let Some(last) = self.last_if(&actor) {
            return last;
        }
        let next = ActorNumber(u32::try_from(self.ids.len()).expect("fewer than 2^32 actors in a workspace"));
        let number = *self.numbers.entry(actor).or_insert_with(|| {
            self.ids.push(actor);
            next
        });
        self.last = Some(number);
        number
    }

    fn last_if(&self, actor: &ActorId) -> Option<ActorNumber> {
        self.last.filter(|last| self.ids[last.0 as usize] == *actor)
    }

    /// The touch `stamp` makes, its actor numbered.
    pub(super) fn touch(&mut self, stamp: &Stamp) -> Touch {
        (stamp.hlc, stamp.op, self.number(stamp.actor))
    }

    /// `actor`'s number, if it has one: an actor without one touched nothing.
    pub(super) fn find(&self, actor: &ActorId) -> Option<ActorNumber> {
        self.last_if(actor).or_else(|| self.numbers.get(actor).copied())
    }

    pub(super) fn id(&self, number: ActorNumber) -> ActorId {
        self.ids[number.0 as usize]
    }
}

impl From<ActorNumber> for u64 {
    fn from(number: ActorNumber) -> u64 {
        u64::from(number.0)
    }
}
