use openprod_compare::{BULK_WRITES, Bench, bulk_write};
fn main() {
    let mut bench = Bench::new();
    let t = std::time::Instant::now();
    for index in 0..BULK_WRITES {
        let (record, field, value) = bulk_write(index);
        bench.write(record, field, &value);
    }
    eprintln!("{:?}", t.elapsed());
}
