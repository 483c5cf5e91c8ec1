//! Writing a lock: its canonical text (`spec/lock.md`, section 3), built
//! as a `toml_edit` document whose layout is set explicitly (blank lines,
//! one array element per line), and writing the file whole.

use std::path::Path;

use toml_edit::{Array, ArrayOfTables, Decor, DocumentMut, InlineTable, Item, Key, Table, Value};

use super::{DirectDep, Edge, LockError, LockedAtom, Lockfile, LOCK_VERSION};

/// The comment the canonical text starts with.
const HEADER: &str = "# This file is written by eka (`eka lock`). Do not edit it by hand.\n";

/// How array elements are indented, one per line.
const ELEMENT_INDENT: &str = "\n    ";

impl Lockfile {
    /// The canonical text of the lock.
    pub fn to_toml_string(&self) -> String {
        self.to_document().to_string()
    }

    fn to_document(&self) -> DocumentMut {
        let mut doc = DocumentMut::new();
        let root = doc.as_table_mut();
        let version = Key::new("lock-version").with_leaf_decor(Decor::new(HEADER, " "));
        root.insert_formatted(&version, toml_edit::value(LOCK_VERSION));
        if !self.deps.is_empty() {
            let deps = Key::new("deps").with_leaf_decor(Decor::new("\n", " "));
            root.insert_formatted(&deps, edges(&self.deps));
        }
        if !self.atoms.is_empty() {
            let mut atoms = ArrayOfTables::new();
            for a in &self.atoms {
                atoms.push(atom_table(a));
            }
            root.insert("atom", Item::ArrayOfTables(atoms));
        }
        if !self.direct.is_empty() {
            let mut direct = ArrayOfTables::new();
            for d in &self.direct {
                direct.push(direct_table(d));
            }
            root.insert("direct", Item::ArrayOfTables(direct));
        }
        doc
    }

    /// Writes the lock to `path` whole ([`crate::files`]): a reader, or a
    /// crash, sees the old lock or the new one, never a part, and the file
    /// keeps its mode.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        crate::files::write_whole(path, self.to_toml_string().as_bytes()).map_err(|source| {
            LockError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
    }
}

/// `[[atom]]`: keys in the order of `spec/lock.md` section 1.2, after a
/// blank line.
fn atom_table(a: &LockedAtom) -> Table {
    let mut t = Table::new();
    t.decor_mut().set_prefix("\n");
    t.insert("label", string(a.label.as_str()));
    t.insert("version", string(&a.version.to_string()));
    t.insert("id", string(&a.id().to_string()));
    t.insert("root", string(&a.root.to_string()));
    t.insert("commit", string(&a.commit.to_string()));
    t.insert("origin", string(&a.origin.to_string()));
    t.insert("digest", string(&a.digest.to_string()));
    let mirrors = a.mirrors.iter().map(|m| basic_string(m.as_str()));
    t.insert("mirrors", Item::Value(Value::Array(one_per_line(mirrors))));
    if !a.signers.is_empty() {
        let signers = a
            .signers
            .iter()
            .map(|s| basic_string(&format!("{} {}", s.fingerprint, s.signed_at)));
        t.insert("signers", Item::Value(Value::Array(one_per_line(signers))));
    }
    if !a.deps.is_empty() {
        t.insert("deps", edges(&a.deps));
    }
    t
}

/// `[[direct]]`: `type`, `name`, then the type's fields in eka 0.3's
/// order, after a blank line.
fn direct_table(d: &DirectDep) -> Table {
    let mut t = Table::new();
    t.decor_mut().set_prefix("\n");
    t.insert("type", string(d.pin.type_name()));
    t.insert("name", string(d.name.as_str()));
    for (key, value) in d.pin.fields() {
        t.insert(key, string(&value));
    }
    t
}

/// An edge list: `{ label, req, id }` inline tables, one per line.
fn edges(edges: &[Edge]) -> Item {
    let tables = edges.iter().map(|e| {
        let mut t = InlineTable::new();
        t.insert("label", basic_string(e.label.as_str()));
        t.insert("req", basic_string(&e.req.to_string()));
        t.insert("id", basic_string(&e.id.to_string()));
        Value::InlineTable(t)
    });
    Item::Value(Value::Array(one_per_line(tables)))
}

/// An array written one element per line, indented, with a trailing comma.
fn one_per_line(values: impl Iterator<Item = Value>) -> Array {
    let mut array = Array::new();
    for v in values {
        array.push_formatted(v.decorated(ELEMENT_INDENT, ""));
    }
    array.set_trailing_comma(true);
    array.set_trailing("\n");
    array
}

fn string(s: &str) -> Item {
    Item::Value(basic_string(s))
}

/// A TOML basic string (`"…"`), whatever it holds: `toml_edit` on its own
/// would pick a literal string (`'…'`) for text with `"` or `\`, and
/// mirrors may be paths holding any character.
fn basic_string(s: &str) -> Value {
    let text = toml_writer::TomlStringBuilder::new(s);
    if text.as_basic_pretty().is_some() {
        // What toml_edit writes by default: no escape needed.
        return Value::from(s);
    }
    toml_writer::ToTomlValue::to_toml_value(&text.as_basic())
        .parse()
        .expect("toml_writer writes a valid basic string")
}
