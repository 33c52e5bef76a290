//! Finding the script on nbdkit's command line before nbdkit calls
//! `config`.
//!
//! nbdkit prints `--help` and `--version` before any `config` call, and
//! copies the plugin struct as soon as `plugin_init` returns, so the only
//! way a script's `version`, `longname`, `description`, `config_help` and
//! `magic_config_key` can appear there is to find the script in the
//! process's arguments while `plugin_init` runs.

/// nbdkit's short options that take a value (`-U sock`, `-Usock`).
const SHORT_WITH_VALUE: &str = "DegiPptUu";

/// nbdkit's long options that take a value when not written `--opt=value`.
const LONG_WITH_VALUE: &[&str] = &[
    "debug", "export", "export-name", "exportname", "filter", "group", "ip-addr", "ipaddr", "log",
    "mask-handshake", "pid-file", "pidfile", "port", "run", "selinux-label", "threads", "tls",
    "tls-certificates", "tls-psk", "unix", "user", "vsock", "keepalive", "timeout",
];

/// Whether `arg` names this plugin: `python`, or a path to our `.so`.
fn names_this_plugin(arg: &str) -> bool {
    arg == "python" || arg.ends_with("/nbdkit-python-plugin.so") || arg.ends_with("/libnbdkit_python_plugin.so")
        || arg == "nbdkit-python-plugin.so"
}

/// The script path: the first parameter after the plugin, given as
/// `script=FILE` or as a bare `FILE` (nbdkit's magic config key).
pub fn find_script(args: &[String]) -> Option<String> {
    let mut i = 1; // args[0] is nbdkit itself
    let mut after_plugin = false;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "--" {
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            if !long.contains('=') && LONG_WITH_VALUE.contains(&long) {
                i += 1;
            }
            continue;
        }
        if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A bundle like -fv or -Usock: a value-taking letter consumes
            // the rest of the bundle, or the next argument.
            if let Some(pos) = short.find(|c| SHORT_WITH_VALUE.contains(c)) {
                if pos + 1 == short.len() {
                    i += 1;
                }
            }
            continue;
        }
        if !after_plugin {
            after_plugin = names_this_plugin(arg);
            if !after_plugin {
                // A different plugin, or a filter name: not ours to parse.
                return None;
            }
            continue;
        }
        return match arg.split_once('=') {
            Some(("script", file)) => Some(file.to_string()),
            Some(_) => None,
            None => Some(arg.to_string()),
        };
    }
    None
}

/// This process's arguments, from /proc (there is no argv for a library).
pub fn process_args() -> Vec<String> {
    let Ok(raw) = std::fs::read("/proc/self/cmdline") else { return Vec::new() };
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(cmd: &str) -> Option<String> {
        find_script(&cmd.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn forms() {
        assert_eq!(find("nbdkit python script=a.py"), Some("a.py".into()));
        assert_eq!(find("nbdkit python a.py k=v"), Some("a.py".into()));
        assert_eq!(find("nbdkit -f -v -U /tmp/s python a.py"), Some("a.py".into()));
        assert_eq!(find("nbdkit -fvU /tmp/s python a.py"), Some("a.py".into()));
        assert_eq!(find("nbdkit -U/tmp/s --run nbdinfo /x/nbdkit-python-plugin.so a.py"), Some("a.py".into()));
        assert_eq!(find("nbdkit --filter=cow --port 1234 python --help a.py"), Some("a.py".into()));
        assert_eq!(find("/usr/sbin/nbdkit python /home/u/plugin.py size=1G"), Some("/home/u/plugin.py".into()));
    }

    #[test]
    fn not_ours() {
        assert_eq!(find("nbdkit memory 1G"), None);
        assert_eq!(find("nbdkit python"), None);
        assert_eq!(find("nbdkit python --dump-plugin"), None);
        assert_eq!(find("nbdkit python size=1G"), None);
    }
}
