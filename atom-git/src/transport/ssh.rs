//! Which ssh client to run for `ssh://` URLs, chosen as git chooses it.

use std::ffi::OsString;
use std::path::Path;

use gix::bstr::BString;

pub(crate) type SshOptions = gix::protocol::transport::client::blocking_io::ssh::connect::Options;

/// Why the ssh client could not be chosen.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("cannot read the ssh configuration of `{}`", git_dir.display())]
    Repository {
        git_dir: std::path::PathBuf,
        #[source]
        source: crate::BoxError,
    },
    #[error("cannot read git's configuration")]
    Globals(#[source] crate::BoxError),
    #[error("core.sshCommand is not a valid path")]
    Command(#[source] crate::BoxError),
    #[error("invalid ssh variant")]
    Variant(#[source] crate::BoxError),
}

/// How to run ssh for `ssh://` URLs, chosen as git chooses: the shell
/// command `GIT_SSH_COMMAND`, else the shell command `core.sshCommand` of
/// git's configuration, else the program `GIT_SSH` (run without a shell),
/// else `ssh`; `GIT_SSH_VARIANT` or `ssh.variant` names the kind of client
/// when its name does not tell. The configuration is the one git reads in
/// `dir`: the repository's (with its worktree's, and the user's and
/// system's below it) inside a repository, the user's and system's
/// elsewhere, with `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_*` overrides either
/// way.
pub(crate) fn ssh_options(dir: &Path) -> Result<SshOptions, SshConfigError> {
    match gix::discover_with_environment_overrides(dir) {
        // gix applies the same order to the repository's configuration,
        // and ignores the sections of a repository that the current user
        // does not own.
        Ok(repo) => repo
            .ssh_connect_options()
            .map_err(|e| SshConfigError::Repository {
                git_dir: repo.git_dir().to_owned(),
                source: e.into(),
            }),
        Err(_) => {
            let mut config =
                gix::config::File::from_globals().map_err(|e| SshConfigError::Globals(e.into()))?;
            let overrides = gix::config::File::from_environment_overrides()
                .map_err(|e| SshConfigError::Globals(e.into()))?;
            config
                .append(overrides)
                .map_err(|e| SshConfigError::Globals(e.into()))?;
            ssh_options_from(&config, |name| std::env::var_os(name))
        }
    }
}

/// [`ssh_options`] from `config` and the environment variables `env` gives.
fn ssh_options_from(
    config: &gix::config::File,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<SshOptions, SshConfigError> {
    use gix::bstr::ByteSlice;
    use gix::config::tree::Ssh;
    let configured = match config.string("core.sshCommand") {
        Some(c) => Some(
            gix::path::from_bstring(c)
                .map_err(|e| SshConfigError::Command(e.into()))?
                .into_os_string(),
        ),
        None => None,
    };
    let (command, disallow_shell) = match (env("GIT_SSH_COMMAND"), configured, env("GIT_SSH")) {
        (Some(c), _, _) | (None, Some(c), _) => (Some(c), false),
        (None, None, Some(program)) => (Some(program), true),
        (None, None, None) => (None, false),
    };
    let variant: Option<BString> = match env("GIT_SSH_VARIANT") {
        Some(v) => Some(
            gix::path::os_string_into_bstring(v).map_err(|e| SshConfigError::Variant(e.into()))?,
        ),
        None => config
            .string("ssh.variant")
            .map(|v| BString::from(v.as_bytes())),
    };
    let kind = match variant {
        Some(v) => Ssh::VARIANT
            .try_into_variant(v.as_bstr())
            .map_err(|e| SshConfigError::Variant(e.into()))?,
        None => None,
    };
    Ok(SshOptions {
        command,
        disallow_shell,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ssh client is chosen as git chooses it: `GIT_SSH_COMMAND`, then
    /// `core.sshCommand`, then `GIT_SSH` (a program, no shell), then ssh;
    /// `GIT_SSH_VARIANT` over `ssh.variant`.
    #[test]
    fn ssh_client_order() {
        use gix::protocol::transport::client::blocking_io::ssh::ProgramKind;
        let config = |text: &str| text.parse::<gix::config::File>().unwrap();
        let choose = |config: &gix::config::File, vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let o = ssh_options_from(config, |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
            })
            .unwrap();
            (
                o.command.map(|c| c.into_string().unwrap()),
                o.disallow_shell,
                o.kind,
            )
        };
        let none = config("");
        let set = config("[core]\n\tsshCommand = ssh -i 'my key'\n[ssh]\n\tvariant = simple\n");
        let all = [
            ("GIT_SSH_COMMAND", "ssh -p 2"),
            ("GIT_SSH", "/usr/bin/my-ssh"),
        ];
        assert_eq!(choose(&none, &[]), (None, false, None));
        assert_eq!(choose(&none, &all), (Some("ssh -p 2".into()), false, None));
        assert_eq!(
            choose(&set, &all),
            (Some("ssh -p 2".into()), false, Some(ProgramKind::Simple))
        );
        assert_eq!(
            choose(&set, &all[1..]),
            (
                Some("ssh -i 'my key'".into()),
                false,
                Some(ProgramKind::Simple)
            )
        );
        assert_eq!(
            choose(&none, &all[1..]),
            (Some("/usr/bin/my-ssh".into()), true, None)
        );
        assert_eq!(
            choose(&set, &[("GIT_SSH_VARIANT", "putty")]).2,
            Some(ProgramKind::Putty)
        );
        assert_eq!(choose(&set, &[("GIT_SSH_VARIANT", "auto")]).2, None);
        let bad = config("[ssh]\n\tvariant = telnet\n");
        assert!(ssh_options_from(&bad, |_| None).is_err());
    }
}
