//! Lexical path handling, as Nix does it: no symlink resolution, just
//! removing `.`, `..`, duplicate and trailing slashes.

/// Canonicalizes an absolute path lexically.
pub(crate) fn canon_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut out = String::with_capacity(path.len());
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    out
}

/// `base` joined with `rel`, canonicalized (`rel` may be absolute).
pub(crate) fn join(base: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        canon_path(rel)
    } else {
        canon_path(&format!("{base}/{rel}"))
    }
}

/// `dirOf` for paths and strings: everything before the last slash.
pub(crate) fn dir_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

/// `baseNameOf`: the last component, ignoring one trailing slash.
pub(crate) fn base_name_of(path: &str) -> &str {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizes_lexically() {
        assert_eq!(canon_path("/a/./b//c/../d/"), "/a/b/d");
        assert_eq!(canon_path("/.."), "/");
        assert_eq!(join("/x/y", "../z"), "/x/z");
        assert_eq!(join("/x", "/abs/./p"), "/abs/p");
    }

    #[test]
    fn dir_and_base_names() {
        assert_eq!(dir_of("/a/b"), "/a");
        assert_eq!(dir_of("/a"), "/");
        assert_eq!(dir_of("a"), ".");
        assert_eq!(base_name_of("/a/b/"), "b");
        assert_eq!(base_name_of("c"), "c");
    }
}
