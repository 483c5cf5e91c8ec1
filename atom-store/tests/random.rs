//! Seeded random derivations (with sources, texts and dependencies
//! between them) instantiated by Nix 2.8 and by atom-store: every `.drv`
//! byte and every path must be equal. `ATOM_STORE_SEED=<n>` explores
//! another seed.

mod common;

use common::*;

#[test]
fn random_derivations_match_nix() {
    let seed: u64 = std::env::var("ATOM_STORE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let (batches, per_batch) = (30, 10);
    for batch in 0..batches {
        let mut generator = Gen::new(seed.wrapping_add(batch));
        let case = generator.case(per_batch);
        let store = NixStore::new();
        check_case(&case, &store);
    }
    eprintln!(
        "seed {seed}: {} random derivations, {} texts, {} sources matched Nix",
        batches * per_batch as u64,
        batches * 3,
        batches * 2
    );
}
