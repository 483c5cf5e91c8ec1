//! The comparison both differential test files (`differential.rs`,
//! `context.rs`) make: eka's value of each expression against Nix's.

/// Fails listing every expression whose value in eka (`ours`) is not
/// Nix's (`theirs`), or that failed in eka.
pub fn assert_same_as_nix(
    exprs: &[String],
    theirs: &[serde_json::Value],
    ours: &[Result<serde_json::Value, String>],
) {
    assert_eq!(theirs.len(), exprs.len());
    let mut mismatches = Vec::new();
    for ((e, t), o) in exprs.iter().zip(theirs).zip(ours) {
        match o {
            Ok(v) if v == t => {}
            Ok(v) => mismatches.push(format!("{e}\n    nix:  {t}\n    ours: {v}")),
            Err(err) => mismatches.push(format!("{e}\n    nix:  {t}\n    ours: error {err}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
