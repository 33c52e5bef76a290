//! `cargo xtask install`: make `nbdkit python` load our plugin, keeping
//! Debian's as `nbdkit-python-plugin.so.debian`; `--restore` undoes it.
//!
//! The conformance suite always takes the `.debian` copy as its reference
//! when it exists, so tests keep comparing against Debian's plugin.

use crate::build::{self, Backend};
use crate::util::{self, Args, Result};
use std::path::{Path, PathBuf};

pub fn main(args: &[String]) -> Result {
    let mut args = Args::new(args);
    let restore = args.flag("--restore");
    let backend = match args.value("--backend")? {
        Some(name) => Backend::parse(&name)?,
        None => Backend::Cpython,
    };
    let (rest, _) = args.finish()?;
    if !rest.is_empty() {
        return Err(format!("unexpected arguments {rest:?}").into());
    }
    let installed = util::plugindir()?.join(util::PLUGIN_FILE);
    let kept = kept_path(&installed);
    if restore {
        restore_debian(&installed, &kept)
    } else {
        install(backend, &installed, &kept)
    }
}

fn kept_path(installed: &Path) -> PathBuf {
    installed.with_file_name(format!("{}.debian", util::PLUGIN_FILE))
}

fn install(backend: Backend, installed: &Path, kept: &Path) -> Result {
    let ours = build::build(&[backend])?.remove(0);
    if !kept.exists() {
        if !installed.exists() {
            return Err(format!(
                "{} does not exist: install Debian's nbdkit-plugin-python first",
                installed.display()
            )
            .into());
        }
        if util::is_ours(installed)? {
            return Err(format!(
                "{} is already ours and Debian's was not kept; get it back with \
                 `apt-get install --reinstall nbdkit-plugin-python`",
                installed.display()
            )
            .into());
        }
        util::replace_file(installed, kept).map_err(|e| format!("{e} (are you root?)"))?;
        eprintln!("xtask: kept Debian's plugin as {}", kept.display());
    }
    util::replace_file(&ours, installed).map_err(|e| format!("{e} (are you root?)"))?;
    eprintln!(
        "xtask: installed {} ({backend}) as {}; `cargo xtask install --restore` undoes it",
        ours.display(),
        installed.display()
    );
    Ok(())
}

fn restore_debian(installed: &Path, kept: &Path) -> Result {
    if !kept.exists() {
        if installed.exists() && util::is_ours(installed)? {
            return Err(format!(
                "{} is ours and no {} was kept; get Debian's back with \
                 `apt-get install --reinstall nbdkit-plugin-python`",
                installed.display(),
                kept.display()
            )
            .into());
        }
        eprintln!("xtask: nothing to restore: {} is Debian's", installed.display());
        return Ok(());
    }
    std::fs::rename(kept, installed).map_err(|e| {
        format!("rename {} to {}: {e} (are you root?)", kept.display(), installed.display())
    })?;
    eprintln!("xtask: restored Debian's plugin as {}", installed.display());
    Ok(())
}
