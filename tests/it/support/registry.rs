//! The shared fixture "a registry with these atoms published": a source
//! monorepo whose atoms `eka publish` (the binary under test) publishes to
//! a bare repository on one of the test servers.
//!
//! ```ignore
//! let reg = RegistryBuilder::new(&sb, &server)    // repository `registry`, source `mono`
//!     .atom("b", "1.0.0").dir("libs/b")           // one release: one commit, one publish
//!     .release()
//!     .atom("b", "2.0.0").dir("libs/b")
//!     .atom("a", "1.0.0").dep("b", "^2")          // a dependency on this registry
//!     .build();                                   // releases what is pending
//! reg.url; reg.source; reg.origin("a", "1.0.0");
//! ```

use std::path::PathBuf;

use super::{GitServer, Repo, Sandbox};

/// One atom version to publish.
struct AtomSpec {
    dir: String,
    label: String,
    version: String,
    /// `(set name, set URL, label, requirement)`.
    deps: Vec<(String, String, String, String)>,
    /// Files written in the atom's directory: (path in it, contents).
    files: Vec<(String, Vec<u8>)>,
    /// Whether `eka lock` runs in the atom before it is committed.
    lock: bool,
}

impl AtomSpec {
    /// `atom.toml`: the package, then the sets and dependencies in the
    /// order they were declared.
    fn manifest(&self) -> String {
        let mut s = format!(
            "[package]\nlabel = \"{}\"\nversion = \"{}\"\n",
            self.label, self.version
        );
        let mut sets: Vec<(&str, &str)> = Vec::new();
        for (set, url, ..) in &self.deps {
            if !sets.iter().any(|(s, _)| s == set) {
                sets.push((set, url));
            }
        }
        if sets.is_empty() {
            return s;
        }
        s.push_str("\n[package.sets]\n");
        for (set, url) in &sets {
            s.push_str(&format!("{} = \"{url}\"\n", toml_key(set)));
        }
        for (set, _) in &sets {
            s.push_str(&format!("\n[deps.from.{}]\n", toml_key(set)));
            for (_, _, label, req) in self.deps.iter().filter(|d| d.0 == *set) {
                s.push_str(&format!("{label} = \"{req}\"\n"));
            }
        }
        s
    }
}

/// `name` as a TOML key (`::` needs quotes).
fn toml_key(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        name.to_owned()
    } else {
        format!("\"{name}\"")
    }
}

/// Builds a [`Registry`]: atoms are grouped in releases (see
/// [`Self::release`]); each release is one commit of the source repository
/// and one `eka publish` of its atoms.
pub struct RegistryBuilder<'a> {
    sb: &'a Sandbox,
    server: &'a GitServer,
    name: String,
    source: String,
    releases: Vec<Vec<AtomSpec>>,
}

impl<'a> RegistryBuilder<'a> {
    /// A registry `registry` on `server`, published from the source
    /// repository `<sandbox>/mono`.
    pub fn new(sb: &'a Sandbox, server: &'a GitServer) -> Self {
        Self {
            sb,
            server,
            name: "registry".into(),
            source: "mono".into(),
            releases: vec![Vec::new()],
        }
    }

    /// The repository's name on the server (default `registry`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The source repository's folder in the sandbox (default `mono`).
    pub fn source(mut self, dir: &str) -> Self {
        self.source = dir.into();
        self
    }

    /// Adds `label` at `version` to the current release, in the folder
    /// `label` (see [`Self::dir`]).
    pub fn atom(mut self, label: &str, version: &str) -> Self {
        self.pending().push(AtomSpec {
            dir: label.into(),
            label: label.into(),
            version: version.into(),
            deps: Vec::new(),
            files: Vec::new(),
            lock: false,
        });
        self
    }

    /// The folder of the last atom in the source repository.
    pub fn dir(mut self, dir: &str) -> Self {
        self.last().dir = dir.into();
        self
    }

    /// A dependency of the last atom on `label` of this same registry
    /// (through the set `reg`).
    pub fn dep(mut self, label: &str, requirement: &str) -> Self {
        let url = self.server.url(&self.name);
        self.last()
            .deps
            .push(("reg".into(), url, label.into(), requirement.into()));
        self
    }

    /// A dependency of the last atom on `label` from the set `set` at
    /// `url` (e.g. `"::"`, the atom's own repository).
    pub fn dep_from(mut self, set: &str, url: &str, label: &str, requirement: &str) -> Self {
        self.last()
            .deps
            .push((set.into(), url.into(), label.into(), requirement.into()));
        self
    }

    /// A file in the last atom's folder.
    pub fn file(mut self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        self.last()
            .files
            .push((path.into(), contents.as_ref().to_vec()));
        self
    }

    /// Runs `eka lock` in the last atom's folder before committing it, so
    /// that its atom.lock is published with it.
    pub fn locked(mut self) -> Self {
        self.last().lock = true;
        self
    }

    /// Ends the current release: the atoms added since go in one commit
    /// and one publish.
    pub fn release(mut self) -> Self {
        if !self.releases.last().is_some_and(Vec::is_empty) {
            self.releases.push(Vec::new());
        }
        self
    }

    /// Creates the registry and the source repository, and publishes every
    /// release in order.
    pub fn build(self) -> Registry {
        let url = self.server.create(&self.name);
        let source = self.sb.repo(&self.source);
        let mut origins = Vec::new();
        for release in self.releases.iter().filter(|r| !r.is_empty()) {
            let mut dirs: Vec<&str> = Vec::new();
            for atom in release {
                assert!(
                    !dirs.contains(&atom.dir.as_str()),
                    "two atoms in `{}` in one release: call .release() between them",
                    atom.dir
                );
                dirs.push(&atom.dir);
                source.write(&format!("{}/atom.toml", atom.dir), atom.manifest());
                for (path, contents) in &atom.files {
                    source.write(&format!("{}/{path}", atom.dir), contents);
                }
                if atom.lock {
                    self.sb
                        .eka(&source.path().join(&atom.dir), &["lock"])
                        .assert_success();
                }
            }
            let names: Vec<String> = release
                .iter()
                .map(|a| format!("{}@{}", a.label, a.version))
                .collect();
            let commit = source.commit(&names.join(", "));
            let mut args = vec!["publish", "--remote", url.as_str()];
            args.extend(dirs);
            self.sb.eka(source.path(), &args).assert_success();
            for atom in release {
                origins.push((atom.label.clone(), atom.version.clone(), commit.clone()));
            }
        }
        Registry {
            path: self.server.path(&self.name),
            url,
            source,
            origins,
        }
    }

    fn pending(&mut self) -> &mut Vec<AtomSpec> {
        self.releases.last_mut().expect("a release")
    }

    fn last(&mut self) -> &mut AtomSpec {
        self.pending()
            .last_mut()
            .expect("call .atom() before describing it")
    }
}

/// A published registry (see [`RegistryBuilder`]).
pub struct Registry {
    /// Its URL on the server.
    pub url: String,
    /// Its bare repository on the server's disk.
    pub path: PathBuf,
    /// The source repository the atoms were published from.
    pub source: Repo,
    /// (label, version, source commit) of every published atom.
    origins: Vec<(String, String, String)>,
}

impl Registry {
    /// The source commit `label` at `version` was published from.
    pub fn origin(&self, label: &str, version: &str) -> &str {
        self.origins
            .iter()
            .find(|(l, v, _)| l == label && v == version)
            .map(|(.., commit)| commit.as_str())
            .unwrap_or_else(|| panic!("{label}@{version} was not published"))
    }
}
