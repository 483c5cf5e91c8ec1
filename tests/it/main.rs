//! End-to-end tests of the `eka` binary: one test binary (as uv's and jj's
//! `tests/it/`), so that the support code is compiled and linked once and
//! every test runs in one harness, in parallel.
//!
//! Every test runs the real `eka` (cargo's `CARGO_BIN_EXE_eka`) in a
//! hermetic environment against real git: repositories made with `git`,
//! remotes served over `file://`, `git daemon`, smart HTTP (lighttpd running
//! `git http-backend`) and ssh (a private `sshd`), all on 127.0.0.1 and
//! started by the tests themselves; results are cross-checked with git
//! (`cat-file`, `hash-object`, `ls-remote`, `fsck --strict`). The servers
//! need OpenSSH and lighttpd (`./test.sh` installs them); a test whose
//! server is missing fails saying what to install, it is never skipped.
//!
//! # Modules
//!
//! - [`support`]: the harness. [`support::Sandbox`] is the test environment
//!   (a temporary directory with a private `HOME`; it runs `eka` and `git`
//!   hermetically and starts servers); [`support::Repo`] a test monorepo
//!   with reproducible commits; [`support::GitServer`] a server of one
//!   [`support::Transport`]; [`support::RegistryBuilder`] the shared fixture
//!   "a registry with these atoms published"; `support::atoms` checks of
//!   published atoms with git alone; `assert_cli_snapshot!` CLI output
//!   pinned by inline snapshots.
//! - `publish`: `eka publish` over every transport, every result checked
//!   with git.
//! - `build`: `eka build` against the machine's Nix, every output path
//!   checked with `nix-build`.
//! - `bad_input`: `eka publish` on bad input: a clear error, nothing lost
//!   or half done.
//! - `verify`: `eka verify`, locally and over every transport, against each
//!   kind of tampering.
//! - `new`: `eka new`.
//! - `init_config_cache`: `eka init` (idempotent, then published), `eka
//!   config` and command aliases, `eka cache` and `eka cache gc`.
//! - `query`: the zero-object queries `eka versions`, `list`, `show` (and
//!   the `atom_lock::registry` functions behind them).
//! - `resolve`: `eka add`, `remove`, `lock`, `update`, `fetch`.
//! - `modules`: the module system through `eka eval`: the conformance corpus
//!   under `tests/module-corpus/` and atoms read from git.
//! - `module_deps`: `deps.from.<set>.<label>` through the lockfile.
//! - `eka03_project`: a project eka 0.3 set up, on atoms eka 0.3 published:
//!   evaluated as it is, its lock converted by `eka lock`.
//! - `siblings`: atoms of one repository (`"::"`) beside registry atoms,
//!   from `eka add` to a consumer of the published atoms; the work tree as
//!   git would commit it.
//! - `phases`: `eka -v`'s phase timings.
//! - `ux`: the conventions of issue 14: closed pipes, `eka new`'s checks,
//!   status lines, `--dry-run`/`--locked`/`--offline`/`-C`, remote names,
//!   publishing with uncommitted changes, to mirrors, with unresolvable
//!   dependencies, completions, man pages, `--version -v`.
//! - `servers`: self-tests of the harness (its servers answer stock git and
//!   gix; the environment is hermetic).
//!
//! # Adding a test
//!
//! Put it in the module of its area (a new area is a new module declared
//! below). A typical test:
//!
//! ```ignore
//! let sb = Sandbox::new();
//! let server = sb.server(Transport::Http);
//! let reg = RegistryBuilder::new(&sb, &server)
//!     .atom("b", "1.0.0")
//!     .atom("a", "1.0.0").dep("b", "^1")
//!     .build();
//! let run = sb.eka(sb.path(), &["versions", &format!("{}::a", reg.url)]);
//! assert_cli_snapshot!(sb, run, @"");
//! ```
//!
//! To run a case over every transport, write it as a function of the
//! [`support::Transport`] and one `#[test]` per transport calling it (they
//! run in parallel).
//!
//! # Snapshots
//!
//! What `eka` prints is pinned by inline snapshots, `assert_cli_snapshot!`
//! (exit status, stdout, stderr), with insta filters for what varies: the
//! sandbox path, ports, the ssh user, and texts a test names with
//! [`support::Sandbox::filter`] (a server URL, so that one snapshot holds on
//! every transport). Substring checks remain only where the output is not
//! the same from one run or machine to another (a transport's own error
//! text), or where the test computes the expected value with git (a commit
//! id), each with a comment saying so.
//!
//! To write or update snapshots: `cargo insta test -p atom-cli --test it
//! --accept -- <filter>` (install with `cargo install cargo-insta`), or run
//! the tests with `INSTA_UPDATE=always` and then `cargo insta accept`; then
//! read every changed snapshot in the diff: it must show what eka really
//! prints, and that must be right.
//!
//! Run one area with `cargo test -p atom-cli --test it -- publish::`.

mod support;

mod bad_input;
mod build;
mod eka03_project;
mod faults;
mod flags;
mod hostile;
mod init_config_cache;
mod module_deps;
mod modules;
mod new;
mod phases;
mod publish;
mod query;
mod resolve;
mod servers;
mod siblings;
mod trust;
mod ux;
mod verify;
