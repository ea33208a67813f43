//! Many separate changes made in one go, signed together at the end.
//!
//! Each change of a burst is still its own bundle, with its own signature
//! and its own undo step, exactly as if it had been committed alone. Only
//! the signing waits for the burst to end, where [`Identity::sign_each`]
//! signs the bundles together for about a fifth less work each. A signature
//! is most of what a small change costs, so a tool making thousands of
//! changes at once (a bulk edit, a script) goes that much faster.
//!
//! spec/identity.md asks that every operation be signed before it is
//! written to the oplog (the stored log, the source of truth) or sent to a
//! peer. In memory a burst's bundles sit in the [`crate::log::OpLog`]
//! unsigned until it ends; but a burst owns its workspace, so nothing can be
//! stored, sent or exported from it before [`Burst::finish`] has signed
//! every bundle and handed them over. So a burst's changes become durable
//! and reach peers only then, all at once: it is for tools making many
//! changes in one go, not for a person's edits, each of which is stored as
//! soon as it is made.
//!
//! [`Identity::sign_each`]: crate::identity::Identity::sign_each

use super::{Change, EditError, Workspace};
use crate::entropy::Entropy;
use crate::identity::ActorId;
use crate::state::State;

/// Dropped without [`Burst::finish`], it takes the workspace and the
/// burst's changes with it.
#[must_use = "the workspace comes back, its bundles signed, from Burst::finish"]
pub struct Burst {
    workspace: Workspace,
}

impl Workspace {
    /// Starts a burst of changes ([`Burst`]); the workspace comes back,
    /// every bundle signed, from [`Burst::finish`].
    pub fn burst(self) -> Burst {
        debug_assert_eq!(self.unsigned, 0);
        Burst { workspace: self }
    }
}

impl Burst {
    /// Makes one change, as [`Workspace::change`] and [`Change::commit`]
    /// do, or none if `edit` fails.
    pub fn edit<T>(
        &mut self,
        now_ms: u64,
        entropy: &mut dyn Entropy,
        edit: impl FnOnce(&mut Change<'_>) -> Result<T, EditError>,
    ) -> Result<T, EditError> {
        let mut change = self.workspace.change(now_ms, entropy);
        let result = edit(&mut change)?;
        change.commit_unsigned()?;
        Ok(result)
    }

    /// The state, with every change of the burst so far applied.
    pub fn state(&self) -> &State {
        &self.workspace.state
    }

    /// Signs the burst's bundles and gives back the workspace, with the
    /// bundles to persist and offer to peers named in order, as a receive
    /// report names what it applied ([`crate::log::OpLog::named`] reads
    /// them). Named, not copied: a copy of each took 3–4% of W1's time.
    pub fn finish(mut self) -> (Workspace, Vec<(ActorId, u64)>) {
        let made = self.workspace.sign_unsigned() as u64;
        let author = self.workspace.actor();
        let newest = self.workspace.log.tip(&author).map_or(0, |tip| tip.seq);
        (self.workspace, (newest + 1 - made..=newest).map(|seq| (author, seq)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Bundle;
    use crate::entropy::SeededEntropy;
    use crate::hlc::ClockConfig;
    use crate::identity::Identity;
    use crate::names::{FieldKey, TableId};
    use crate::value::Value;

    const CONTACTS: &str = include_str!("../../../modules/contacts/manifest.toml");
    const NOW: u64 = 1_790_000_000_000;

    fn contacts_workspace(entropy: &mut SeededEntropy) -> Workspace {
        let (mut workspace, _) = Workspace::create(Identity::from_seed([1; 32]), "Show", "Jane", NOW, entropy);
        let mut change = workspace.change(NOW, entropy);
        change.adopt_module(CONTACTS, None).unwrap();
        change.commit().unwrap();
        workspace
    }

    /// The same edits, made one by one and as a burst.
    fn edits(table: &TableId, index: usize) -> impl FnOnce(&mut Change<'_>) -> Result<(), EditError> {
        let (table, name) = (table.clone(), Value::String(format!("Crew member {index}")));
        move |change| change.create_record(&table, &[("full_name", name)]).map(|_| ())
    }

    #[test]
    fn a_burst_makes_the_bundles_and_signatures_of_its_changes_made_one_by_one() {
        let table = TableId::new("contacts", "contacts");
        let mut entropy = SeededEntropy::new(3);
        let mut alone = contacts_workspace(&mut entropy);
        let mut committed = Vec::new();
        for index in 0..300 {
            let mut change = alone.change(NOW + index as u64, &mut entropy);
            edits(&table, index)(&mut change).unwrap();
            committed.push(change.commit().unwrap());
        }

        let mut entropy = SeededEntropy::new(3);
        let mut burst = contacts_workspace(&mut entropy).burst();
        let nobody = crate::ids::EntityId::from_bytes([9; 16]);
        for index in 0..300 {
            burst.edit(NOW + index as u64, &mut entropy, edits(&table, index)).unwrap();
            if index == 150 {
                let refused = burst.edit(NOW, &mut entropy, |change| {
                    change.set_field(nobody, &table, "role", Value::String("Nobody".into()))
                });
                assert!(refused.is_err(), "a failed edit makes no bundle");
                let empty = burst.edit(NOW, &mut entropy, |_| Ok(()));
                assert_eq!(empty, Err(EditError::NothingToSave), "nor does one that changes nothing");
            }
        }
        let (together, names) = burst.finish();
        let bundles: Vec<Bundle> = together.log().named(&names).unwrap().into_iter().cloned().collect();

        assert_eq!(bundles, committed, "the same bundles, signatures and all");
        assert_eq!(together.log().len(), alone.log().len());
        for bundle in &bundles {
            assert_eq!(bundle.verify(together.id()), Ok(()));
        }
        let name = FieldKey::new("contacts", "full_name");
        let newest = together.state().live_entities().last().unwrap();
        assert_eq!(together.state().field(newest, &name).value, Some(Value::String("Crew member 299".into())));
        assert_eq!(together.state().state_hash(), alone.state().state_hash());
    }

    #[test]
    fn a_burst_s_bundles_catch_up_a_peer_and_each_is_its_own_undo_step() {
        let table = TableId::new("contacts", "contacts");
        let mut entropy = SeededEntropy::new(5);
        let mut burst = contacts_workspace(&mut entropy).burst();
        for index in 0..3 {
            burst.edit(NOW + index as u64, &mut entropy, edits(&table, index)).unwrap();
        }
        assert_eq!(burst.state().live_entities().count(), 3, "a burst's changes show as they are made");
        let (mut writer, _) = burst.finish();

        let mut peer = Workspace::empty(writer.id(), Identity::from_seed([2; 32]), NOW, ClockConfig::default());
        let report = peer.receive(writer.log().bundles().cloned().collect(), NOW);
        assert!(report.refused.is_empty());
        assert_eq!(peer.state().live_entities().count(), 3);

        writer.undo(NOW + 10);
        assert_eq!(writer.state().live_entities().count(), 2, "undo takes back the burst's last change only");
    }
}
