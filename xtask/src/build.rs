//! `cargo xtask build`: compile the plugin once per backend and lay each
//! out as `target/plugin/<backend>/nbdkit-python-plugin.so`.
//!
//! Both backends produce the same cdylib, `libnbdkit_python_plugin.so`, so
//! they are built one after the other, each copied away before the next.

use crate::util::{self, Args, Result};
use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Cpython,
    Rustpython,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Cpython, Backend::Rustpython];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpython => "cpython",
            Backend::Rustpython => "rustpython",
        }
    }

    pub fn parse(s: &str) -> Result<Backend> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown backend {s:?} (cpython or rustpython)").into())
    }

    /// Where `cargo xtask build` puts this variant.
    pub fn plugin_path(self) -> PathBuf {
        util::target_dir().join("plugin").join(self.name()).join(util::PLUGIN_FILE)
    }

    /// Does plugin-python have the cargo feature for this backend yet?
    pub fn available(self) -> bool {
        let manifest = util::root().join("plugin-python").join("Cargo.toml");
        let text = std::fs::read_to_string(manifest).unwrap_or_default();
        has_feature(&text, self.name())
    }

    /// Cargo arguments selecting this backend (cpython is the default).
    fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Backend::Cpython => &[],
            Backend::Rustpython => &["--no-default-features", "--features", "rustpython"],
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Is `feature` declared in the `[features]` table of `manifest`?
fn has_feature(manifest: &str, feature: &str) -> bool {
    let mut in_features = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features {
            let key = line.split('=').next().unwrap_or("").trim().trim_matches('"');
            if key == feature && line.contains('=') {
                return true;
            }
        }
    }
    false
}

/// `--backend B` from `args`: that one (which must be available), else
/// every available backend.
pub fn backends_from(args: &mut Args) -> Result<Vec<Backend>> {
    match args.value("--backend")? {
        Some(name) => {
            let b = Backend::parse(&name)?;
            if !b.available() {
                return Err(format!(
                    "backend {b} is not available yet: plugin-python/Cargo.toml has no `{b}` feature"
                )
                .into());
            }
            Ok(vec![b])
        }
        None => Ok(Backend::ALL.into_iter().filter(|b| b.available()).collect()),
    }
}

pub fn main(args: &[String]) -> Result {
    let mut args = Args::new(args);
    let backends = backends_from(&mut args)?;
    let (rest, _) = args.finish()?;
    if !rest.is_empty() {
        return Err(format!("unexpected arguments {rest:?}").into());
    }
    build(&backends)?;
    Ok(())
}

/// Builds each backend in turn; returns the laid-out plugin paths.
pub fn build(backends: &[Backend]) -> Result<Vec<PathBuf>> {
    if backends.is_empty() {
        return Err("no backend to build".into());
    }
    for b in Backend::ALL {
        if !backends.contains(&b) && !b.available() {
            eprintln!("xtask: note: backend {b} not built: plugin-python has no `{b}` feature yet");
        }
    }
    let mut built = Vec::new();
    for &b in backends {
        util::run(
            util::cargo()
                .args(["build", "--release", "-p", "plugin-python"])
                .args(b.cargo_args()),
        )?;
        let from = util::target_dir().join("release").join("libnbdkit_python_plugin.so");
        let to = b.plugin_path();
        util::replace_file(&from, &to)?;
        eprintln!("xtask: {b}: {}", to.display());
        built.push(to);
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::has_feature;

    #[test]
    fn finds_features_only_in_the_features_table() {
        let m = "[package]\nname = \"x\"\nrustpython = 1\n\n[features]\ndefault = [\"cpython\"]\n\
                 cpython = [\"dep:a\"]\n\n[dependencies]\nrustpython-vm = \"1\"\n";
        assert!(has_feature(m, "cpython"));
        assert!(has_feature(m, "default"));
        assert!(!has_feature(m, "rustpython"));
        assert!(has_feature(&format!("{m}[features]\nrustpython = []\n"), "rustpython"));
    }
}
