//! Writes a workspace file (the app's export format) with a given number of
//! operations, for benchmarks that need a large, realistic workspace: the
//! in-browser benchmarks import it, then reopen and edit it.
//!
//! `cargo run --profile bench -p openprod-core --example workspace_fixture -- <ops> <out-file> [authors]`
//! (the bench profile: the release profile optimises the app for size,
//! which makes signing natively ten times slower)
//!
//! The owner creates the workspace and one Contacts record per ten
//! operations; then `authors` people (the owner among them) each keep their
//! own records up to date, one field per change, so the workspace ends with
//! no conflicts — like a production where each department edits its own
//! people. Everything is seeded: the same arguments give the same file.

use std::time::Instant;

use openprod_core::backup::encode_workspace_file;
use openprod_core::entropy::SeededEntropy;
use openprod_core::hlc::ClockConfig;
use openprod_core::identity::Identity;
use openprod_core::names::TableId;
use openprod_core::value::Value;
use openprod_core::workspace::Workspace;

const NOW: u64 = 1_790_000_000_000;
const CONTACTS: &str = include_str!("../../modules/contacts/manifest.toml");
const FIELDS: [&str; 5] = ["role", "department", "email", "phone", "pronouns"];

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: workspace_fixture <ops> <out-file> [authors]";
    let target_ops: usize = args.next().and_then(|text| text.parse().ok()).expect(usage);
    let out = args.next().expect(usage);
    let authors: usize = args.next().map_or(10, |text| text.parse().expect(usage)).max(1);
    let started = Instant::now();

    let mut entropy = SeededEntropy::new(42);
    let mut now = NOW;
    let (mut owner, first) =
        Workspace::create(Identity::from_seed([1; 32]), "Benchmark show", "Owner", now, &mut entropy);
    let mut bundles = vec![first];
    let mut change = owner.change(now, &mut entropy);
    change.adopt_module(CONTACTS, None).expect("the Contacts module parses");
    bundles.push(change.commit().expect("adopting is a change"));
    let table = TableId::new("contacts", "contacts");

    // One record for every ten operations; creating one is three (entity,
    // name, and the "active" default).
    let records_wanted = (target_ops / 10).max(1);
    let mut records = Vec::with_capacity(records_wanted);
    for index in 0..records_wanted {
        now += 1;
        let mut change = owner.change(now, &mut entropy);
        let name = Value::String(format!("Person {index}"));
        records.push(change.create_record(&table, &[("full_name", name)]).expect("a valid record"));
        bundles.push(change.commit().expect("a record is a change"));
    }

    // The other authors start from everything the owner wrote.
    let mut people: Vec<Workspace> = (1..authors)
        .map(|index| {
            let identity = Identity::from_seed([index as u8 + 1; 32]);
            let (person, report) = Workspace::open(owner.id(), identity, bundles.clone(), now, ClockConfig::default());
            assert!(report.refused.is_empty(), "the owner's bundles verify");
            person
        })
        .collect();
    people.insert(0, owner);

    let mut ops: usize = bundles.iter().map(|bundle| bundle.ops.len()).sum();
    let mut write = 0usize;
    while ops < target_ops {
        let record_index = write % records.len();
        let author = record_index % people.len();
        let field = FIELDS[(write / records.len()) % FIELDS.len()];
        now += 1;
        let mut change = people[author].change(now, &mut entropy);
        change
            .set_field(records[record_index], &table, field, Value::String(format!("{field} {write}")))
            .expect("a valid write");
        let bundle = change.commit().expect("a write is a change");
        ops += bundle.ops.len();
        bundles.push(bundle);
        write += 1;
    }

    let bytes = encode_workspace_file(people[0].id(), "Benchmark show", &bundles);
    if let Some(folder) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(folder).unwrap_or_else(|error| panic!("cannot create {}: {error}", folder.display()));
    }
    std::fs::write(&out, &bytes).unwrap_or_else(|error| panic!("cannot write {out}: {error}"));
    eprintln!(
        "{out}: {ops} operations in {} bundles from {} authors, {} records, {:.1} MB, made in {:.1} s",
        bundles.len(),
        people.len(),
        records.len(),
        bytes.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
}
